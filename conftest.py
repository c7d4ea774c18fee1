"""Test-suite settings that must be in place before any notebook kernel starts.

nbval executes every solution notebook in the current environment; the kernel inherits these
variables: the smoke profile (CI's budget), one CPU thread per kernel (two notebooks run at
once on two cores), strict checks (a failing exercise check in a solution
is an error, not a red message), and a non-interactive matplotlib backend.
"""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("COURSE_STRICT_CHECKS", "1")
os.environ.setdefault("COURSE_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
