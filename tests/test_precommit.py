"""pre-commit passes on a clean checkout: the hooks (nbstripout, ruff, release check) are local, so they run
offline. They run on a copy of this working tree in a temporary git repository, so nothing here is rewritten."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _checkout_files() -> list[str]:
    """The files a clean checkout holds: tracked ones and new ones git does not ignore."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: pre-commit needs a git repository")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout ({listed.stderr.strip()}): pre-commit needs one")
    return sorted({name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()})


def test_pre_commit_passes_on_a_clean_checkout(tmp_path):
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        pytest.skip("pre-commit is not installed (it comes with `pip install -e .[dev]`)")
    copy = tmp_path / "checkout"
    for name in _checkout_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    env = {**os.environ,
           # the hooks are language: system: they find nbstripout, ruff and python in this environment
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),  # leaves ~/.cache alone; works offline
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for command in (["git", "init", "--quiet"], ["git", "add", "--all"]):
        subprocess.run(command, cwd=copy, env=env, check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files", "--show-diff-on-failure",
                           "--color", "never"], cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    verdicts = "\n".join(line for line in done.stdout.splitlines() if line.endswith(("Passed", "Failed", "Skipped")))
    assert done.returncode == 0, (f"pre-commit fails on a clean checkout (fix the files, or the hook):\n{verdicts}\n"
                                  f"...\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
