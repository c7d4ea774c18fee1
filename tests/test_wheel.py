"""course_utils outside the repository: it builds as a wheel, and a student notebook copied to a folder of
its own runs (smoke profile) with that wheel installed in a fresh virtual environment, as on Colab or Binder.

The fresh environment reuses this one's packages (torch, Jupyter, ...) instead of a second large install:
a ``.pth`` file puts a view of this environment's site-packages on its path, a folder of links to every
entry except this course's own package, so the notebook can only import course_utils from the wheel.
(``venv --system-site-packages`` would not do: made from a venv's Python it sees the base interpreter's
packages, not the venv's.)
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "00_setup_and_tour.ipynb"
KERNEL = "dgm-wheel-test"
OWN = ("course_utils", "dgm_course", "__editable__", "__editable___dgm_course")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout[-4000:]}{done.stderr[-4000:]}"
    return done


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _site_packages_view(folder: Path) -> Path:
    """A folder of links to every entry of this environment's site-packages except the course's package."""
    folder.mkdir()
    for packages in map(Path, site.getsitepackages()):
        for entry in packages.iterdir() if packages.is_dir() else ():
            if not entry.name.startswith(OWN) and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the package's sources (the build writes nothing into the checkout)."""
    if shutil.which("git") is None and not (ROOT / "pyproject.toml").is_file():
        pytest.skip("no pyproject.toml to build from")
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "course_utils", source / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "--disable-pip-version-check", "--wheel-dir", dist, source], timeout=300)
    (built,) = dist.glob("dgm_course-*.whl")
    return built


def test_wheel_holds_the_package_and_no_course_files(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "course_utils/__init__.py" in names and "course_utils/checks/__init__.py" in names
    assert "course_utils/models/__init__.py" in names
    assert not [n for n in names if n.startswith(("solutions/", "notebooks/", "tests/"))]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert "Project-URL: Repository, https://" in text


def test_a_student_notebook_runs_elsewhere_with_the_wheel(wheel, tmp_path):
    if os.name == "nt":
        pytest.skip("the environment view uses symbolic links")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    python = _python(venv)
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(purelib) / "course_env.pth").write_text(str(_site_packages_view(tmp_path / "shared")) + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", wheel], timeout=300)
    kernel = venv / "share" / "jupyter" / "kernels" / KERNEL  # what `ipykernel install --prefix venv` writes
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "course wheel test", "language": "python"}))

    work = tmp_path / "somewhere else"  # a folder of the student's, far from any checkout
    work.mkdir()
    shutil.copy2(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)
    env = {key: value for key, value in os.environ.items()  # no COURSE_STRICT_CHECKS: as a student runs it
           if not key.startswith("COURSE_") and key not in ("PYTHONPATH", "JUPYTER_PATH")}
    env.update(COURSE_PROFILE="smoke", COURSE_CACHE=str(tmp_path / "cache"), COURSE_THREADS="1",
               MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")
    where = _run([python, "-c", "import course_utils; print(course_utils.__file__)"], cwd=work, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), f"course_utils came from {where.stdout}, not the wheel"

    _run([python, "-m", "papermill", NOTEBOOK, "executed.ipynb", "-k", KERNEL, "-p", "profile", "smoke",
          "--cwd", work, "--no-progress-bar"], cwd=work, env=env, timeout=600)
    executed = json.loads((work / "executed.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    assert not (work / "solutions").exists() and not (work / "build").exists(), "it wrote course folders here"
    stem = NOTEBOOK.removesuffix(".ipynb")
    assert (tmp_path / "cache" / "results" / f"{stem}.json").is_file(), "its numbers should go to the cache"
