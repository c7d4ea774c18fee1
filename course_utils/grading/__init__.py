"""Grading for instructors: score a class's submissions with the course's own checks, safely.

- :mod:`.metadata`: which cells are exercises and checks (found in the notebooks), their nbgrader metadata
  and points (``annotate``);
- :mod:`.sandbox`: untrusted exercise code, one forked process per exercise with limits;
- :mod:`.grade`: ``python -m course_utils grade SUBMISSIONS --out RESULTS`` (``grade.grade(...)`` in Python);
- :mod:`.report`: ``grades.csv``, ``feedback/<student>.md`` and the summary per notebook.

This package uses :mod:`course_utils.checks`; the checks know nothing of it.
"""

__all__ = ["annotate", "graded_cells"]


def __getattr__(name: str):
    # lazy, so that `python -m course_utils.grading.metadata` runs the module once
    if name in __all__:
        from . import metadata

        return getattr(metadata, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
