"""Runner: execute the solution notebooks headless with papermill and gather their headline numbers.

    python -m course_utils run                          # every solutions/*.ipynb ($COURSE_PROFILE or 'lecture')
    python -m course_utils run --profile smoke 01 03    # notebooks by number, name or path

Each notebook runs in a fresh 'python3' kernel whose working folder is the notebook's folder, with
``profile`` injected after its ``parameters`` cell and these environment variables set:
``COURSE_PROFILE`` (the profile), ``COURSE_RESULTS`` (``build/results/<name>.json``, where
:func:`course_utils.results.record` stores numbers) and ``COURSE_STRICT_CHECKS=1`` (a failing check
fails the run). The executed copy goes to ``build/<name>.ipynb``. A failing notebook does not stop
the others; Ctrl-C stops after writing the summary of what ran: ``build/metrics.json`` and the
table ``build/metrics.md``, which is printed at the end. A partial run updates its notebooks' rows and
keeps the others; each profile also keeps its own course table, ``build/metrics-<profile>.json`` and
``.md``, so a smoke run of one notebook does not wipe the lecture table.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .checks import STRICT_ENV
from .config import PROFILE_ENV, PROFILES, check_profile, project_root
from .release import SOLUTIONS_DIR
from .results import RESULTS_ENV, is_claim, read_results

DEFAULT_PROFILE = "lecture"
BUILD_DIR = "build"
KERNEL = "python3"
INTERRUPTED = 130  # the exit status of a run stopped with Ctrl-C (128 + SIGINT)


@dataclass
class NotebookRun:
    """How one notebook went: ``status`` is 'ok', 'failed' or 'interrupted'; ``error`` is one line."""

    name: str
    status: str
    seconds: float
    metrics: list[dict] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict:
        out = {"status": self.status, "seconds": round(self.seconds, 2), "metrics": self.metrics}
        return {**out, "error": self.error} if self.error else out


def solution_notebooks(root: str | Path | None = None) -> list[Path]:
    """The notebooks in ``<root>/solutions`` in name (= course) order; root defaults to the project."""
    root = Path(root) if root is not None else project_root()
    return sorted(p.resolve() for p in (root / SOLUTIONS_DIR).glob("*.ipynb"))


def _matches(name: str, path: Path) -> bool:
    number = path.stem.split("_", 1)[0]
    return name in (path.stem, path.name) or (name == number) or (
        name.isdigit() and number.isdigit() and int(name) == int(number))


def resolve_notebooks(names: Sequence[str] = (), root: str | Path | None = None) -> list[Path]:
    """The notebooks to run: all solutions when ``names`` is empty, else each name resolved.

    A name is a number ('01' or '1'), a notebook name ('01_supervised_vs_unsupervised') or a path to
    an .ipynb file. Raises ``ValueError`` listing the available notebooks when one is unknown.
    """
    root = Path(root) if root is not None else project_root()
    available = solution_notebooks(root)
    if not names:
        if not available:
            raise ValueError(f"no notebooks in {root / SOLUTIONS_DIR}: nothing to run")
        return available
    listing = ", ".join(p.stem for p in available) or f"none (no notebooks in {root / SOLUTIONS_DIR})"
    chosen: list[Path] = []
    for name in names:
        found = [p for p in available if _matches(name, p)]
        if not found and Path(name).suffix == ".ipynb" and Path(name).is_file():
            found = [Path(name).resolve()]
        if not found:
            raise ValueError(f"unknown notebook {name!r}: expected a number, a name or a path; "
                             f"available notebooks: {listing}")
        if len(found) > 1:
            raise ValueError(f"notebook {name!r} is ambiguous: it matches {', '.join(p.stem for p in found)}")
        if found[0] not in chosen:
            chosen.append(found[0])
    return chosen


def machine_summary() -> str:
    """A short description of where the run happened: OS, CPU, core count, torch version, device."""
    import torch

    from .config import choose_device

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, torch {torch.__version__}, device {choose_device('auto')}")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernel) for the duration of the block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _one_line(err: BaseException) -> str:
    """The error of a failed notebook in one line: the cell's exception, or what stopped the kernel."""
    if hasattr(err, "ename") and hasattr(err, "evalue"):  # papermill's PapermillExecutionError
        lines = str(err.evalue).strip().splitlines()
        text = f"{err.ename}: {lines[0] if lines else ''} (at In [{err.exec_count}])"
    else:
        lines = str(err).strip().splitlines()
        text = f"{type(err).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= 300 else text[:297] + "..."


def run_notebook(path: Path, profile: str, build: Path) -> NotebookRun:
    """Execute one notebook into ``build/<name>.ipynb``; its numbers come from ``build/results/<name>.json``.

    Returns a :class:`NotebookRun` ('ok' or 'failed'); a Ctrl-C propagates as ``KeyboardInterrupt``.
    """
    import papermill

    path, build = Path(path).resolve(), Path(build).resolve()  # papermill runs in the notebook's folder
    name = path.stem
    results = build / "results" / f"{name}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)  # numbers from an earlier run must not pass for this one's
    package_parent = Path(__file__).resolve().parent.parent
    env = {
        PROFILE_ENV: profile,
        RESULTS_ENV: str(results),
        STRICT_ENV: "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # silences the debugger's frozen-modules warning
    }
    if (package_parent / SOLUTIONS_DIR).is_dir():  # running from a checkout (not an installed wheel):
        # the kernel imports this checkout's course_utils even where it is not pip-installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_parent), os.environ.get("PYTHONPATH")) if p)
    status, error = "ok", ""
    start = time.perf_counter()
    with _environment(env):
        try:
            papermill.execute_notebook(str(path), str(build / f"{name}.ipynb"), parameters={"profile": profile},
                                       kernel_name=KERNEL, language="python", cwd=str(path.parent),
                                       progress_bar=False, log_output=False,
                                       # quiet kernel logs: a TCP warning, and the ERROR ipykernel may log as
                                       # jupyter_client interrupts every kernel it shuts down; errors in cells
                                       # still reach us through papermill
                                       extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        except KeyboardInterrupt:
            raise
        except Exception as err:
            status, error = "failed", _one_line(err)
    seconds = time.perf_counter() - start
    try:
        metrics = read_results(results)
    except ValueError as err:
        metrics = []
        status, error = "failed", error or str(err)
    return NotebookRun(name, status, seconds, metrics, error)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{seconds:.1f} s" if minutes == 0 else f"{int(minutes)} min {rest:02.0f} s"


def _number(metric: dict) -> str:
    unit = f" {metric['unit']}" if metric.get("unit") else ""
    return f"{metric['name']} = {metric['value']:.4g}{unit}"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def metrics_markdown(summary: dict) -> str:
    """The run summary (the ``metrics.json`` dict) as markdown: a table with one row per notebook and its
    numbers, then the claims with this run's verdicts (statement, verdict, numbers)."""
    from .claims import format_numbers

    lines = [f"# Course run: profile `{summary['profile']}`", "",
             f"{summary['machine']}; total {_duration(summary['total_seconds'])}.", "",
             "| notebook | status | run time | headline numbers |", "|---|---|---:|---|"]
    for name, nb in summary["notebooks"].items():
        numbers = "; ".join(_number(m) for m in nb["metrics"] if not is_claim(m)) or "-"
        status = nb["status"] + (f": {nb['error']}" if nb.get("error") else "")
        lines.append(f"| {_cell(name)} | {_cell(status)} | {_duration(nb['seconds'])} | {_cell(numbers)} |")
    claims = [(name, m) for name, nb in summary["notebooks"].items() for m in nb["metrics"] if is_claim(m)]
    if claims:
        held = sum(m["holds"] for _, m in claims)
        lines += ["", f"## Claims: {held} of {len(claims)} supported by this run", "",
                  "| notebook | claim | verdict | numbers |", "|---|---|---|---|"]
        for name, m in claims:
            verdict = "\u2714 supported" if m["holds"] else "\u2718 not in this run"
            lines.append(f"| {_cell(name)} | {_cell(m['statement'])} | {verdict} | "
                         f"{_cell(format_numbers(m['numbers'])) or '-'} |")
    return "\n".join(lines) + "\n"


def profile_summary(build: Path, profile: str) -> Path:
    """The summary that keeps ``profile``'s course table: ``build/metrics-<profile>.json`` (and ``.md``)."""
    return Path(build) / f"metrics-{profile}.json"


def _earlier_notebooks(build: Path, profile: str) -> dict:
    """The notebooks of an earlier summary in ``build`` with the same profile (none if unreadable).

    Read from the profile's own summary, else from ``metrics.json`` when that one has this profile.
    """
    for path in (profile_summary(build, profile), build / "metrics.json"):
        try:
            earlier = json.loads(path.read_text())
            if earlier.get("profile") == profile:
                return dict(earlier["notebooks"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return {}


def _keep_other_profile(build: Path, profile: str) -> None:
    """Before ``metrics.json`` of another profile is replaced, keep it as that profile's summary if it has none
    (summaries written before the per-profile files existed)."""
    try:
        earlier = json.loads((build / "metrics.json").read_text())
        other = earlier["profile"]
        keep = other in PROFILES and other != profile and not profile_summary(build, other).exists()
    except (OSError, ValueError, KeyError, TypeError):
        return
    if keep:
        profile_summary(build, other).write_text(json.dumps(earlier, indent=1) + "\n")
        md = build / "metrics.md"
        if md.is_file():
            profile_summary(build, other).with_suffix(".md").write_text(md.read_text())


def write_summary(runs: list[NotebookRun], profile: str, total_seconds: float, build: Path) -> dict:
    """Write ``build/metrics.json`` and ``build/metrics.md``; returns the summary dict.

    Rows of notebooks that an earlier run with the same profile wrote, and this run did not repeat,
    are kept, so rerunning one notebook updates its row in the course table. Rows of another profile
    are never mixed in; that profile's table stays in ``build/metrics-<profile>.json`` and ``.md``,
    which every run writes too. ``total_seconds`` is the sum over all rows; ``run_seconds`` is this
    run's own wall time.
    """
    notebooks = _earlier_notebooks(build, profile) | {run.name: run.to_dict() for run in runs}
    notebooks = dict(sorted(notebooks.items()))
    summary = {"profile": profile, "machine": machine_summary(),
               "total_seconds": round(sum(nb["seconds"] for nb in notebooks.values()), 2),
               "run_seconds": round(total_seconds, 2), "notebooks": notebooks}
    build.mkdir(parents=True, exist_ok=True)
    _keep_other_profile(build, profile)
    for path in (build / "metrics.json", profile_summary(build, profile)):
        path.write_text(json.dumps(summary, indent=1) + "\n")
        path.with_suffix(".md").write_text(metrics_markdown(summary))
    return summary


def _results_so_far(path: Path) -> list[dict]:
    try:
        return read_results(path)
    except ValueError:
        return []


def run_course(names: Sequence[str] = (), profile: str = DEFAULT_PROFILE, root: str | Path | None = None) -> int:
    """Run notebooks (all solutions, or ``names``) with ``profile``, printing progress; returns the exit status.

    0 when every notebook ran, 1 when any failed, 130 when stopped with Ctrl-C. The summary is
    written and printed in every case. Raises ``ValueError`` for an unknown profile or notebook.
    """
    from .doctor import kernel_row

    check_profile(profile)
    root = (Path(root) if root is not None else project_root()).resolve()  # papermill changes folder
    paths = resolve_notebooks(names, root)
    build = root / BUILD_DIR
    kernel = kernel_row(KERNEL)
    if not kernel.ok:
        print(f"warning: {kernel.item} {kernel.value}")
    print(f"Running {len(paths)} notebook{'s' if len(paths) > 1 else ''} with profile '{profile}' into {build}")
    runs: list[NotebookRun] = []
    interrupted = False
    start = time.perf_counter()
    for index, path in enumerate(paths, start=1):
        print(f"[{index}/{len(paths)}] {path.stem} ... ", end="", flush=True)
        began = time.perf_counter()
        try:
            run = run_notebook(path, profile, build)
        except KeyboardInterrupt:
            runs.append(NotebookRun(path.stem, "interrupted", time.perf_counter() - began,
                                    _results_so_far(build / "results" / f"{path.stem}.json"), "stopped by Ctrl-C"))
            print("interrupted (Ctrl-C): stopping here", flush=True)
            interrupted = True
            break
        runs.append(run)
        print(f"ok in {run.seconds:.1f} s" if run.status == "ok" else f"FAILED in {run.seconds:.1f} s: {run.error}",
              flush=True)
    summary = write_summary(runs, profile, time.perf_counter() - start, build)
    print()
    print(metrics_markdown(summary))
    failed = [r.name for r in runs if r.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(runs)} notebooks failed: {', '.join(failed)} "
              f"(the executed copies in {build} show the error)")
    if interrupted:
        print(f"Interrupted: {len(runs) - 1} of {len(paths)} notebooks finished; summary in {build}")
        return INTERRUPTED
    return 1 if failed else 0
