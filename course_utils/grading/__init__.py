"""Grading for instructors: score a class's submissions with the course's own checks, safely.

- :mod:`.metadata`: which cells are exercises and checks (found in the notebooks), their nbgrader metadata
  and points (``annotate``);
- :mod:`.sandbox`: untrusted exercise code, one forked process per exercise with limits;
- :mod:`.grade`: ``python -m course_utils grade SUBMISSIONS --out RESULTS`` (``grade.grade(...)`` in Python);
- :mod:`.report`: ``grades.csv``, ``feedback/<student>.md`` and the summary per notebook.

This package uses :mod:`course_utils.checks`; the checks know nothing of it.
"""

from .metadata import annotate, graded_cells

__all__ = ["annotate", "graded_cells"]
