"""``python -m course_utils grade SUBMISSIONS --out RESULTS``: score a class's notebooks with the course's checks.

SUBMISSIONS holds one folder per student (the folder's name is the student's id) with any of the course's
notebooks. For every exercise of every notebook that someone handed in, the grader takes the student's
exercise cell (found by its cell id, else by its nbgrader ``grade_id``, else by the function it defines),
runs it in a sandboxed process (:mod:`.sandbox`) after the notebook's own imports, then the check call from
the *solution* notebook with the course's check functions. Nothing else of the student's notebook runs: no
training, and no check cell of theirs (an edited or deleted one is flagged, it changes nothing).

RESULTS gets ``grades.csv``, ``feedback/<student>.md`` and ``summary.md`` (also printed). Points come from
the nbgrader metadata of the solution notebooks (:mod:`.metadata`).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .metadata import GradedCell, defined_names, graded_cells, import_statements
from .report import Row, feedback, summary, write_csv
from .sandbox import DEFAULT_MEMORY, DEFAULT_TIMEOUT, ERROR, MISSING, Worker, WorkerFailed, item_payload

MAX_NOTEBOOK_BYTES = 50 * 1024**2
UNREADABLE, NO_NOTEBOOK = "unreadable", "missing"


@dataclass
class Submission:
    """One student's folder: the course notebooks found in it, and notes on anything else."""

    student: str
    notebooks: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_course(solutions: Path) -> dict[str, list[GradedCell]]:
    """Every solution notebook's graded items, by notebook file name (notebooks without exercises left out)."""
    from ..release import read_notebook

    course = {}
    for path in sorted(Path(solutions).glob("*.ipynb")):
        items = graded_cells(read_notebook(path), path.name)
        if items:
            course[path.name] = items
    if not course:
        raise ValueError(f"no exercises found in {solutions}/*.ipynb: expected the course's solution notebooks")
    return course


def _course_name(path: Path, names: list[str]) -> str | None:
    if path.name in names:
        return path.name
    prefix = path.name[:3]  # '05_' of '05_vae-Copy1.ipynb'
    matches = [n for n in names if prefix[:2].isdigit() and prefix.endswith("_") and n.startswith(prefix)]
    return matches[0] if len(matches) == 1 else None


def find_submissions(folder: Path, names: list[str]) -> list[Submission]:
    """One :class:`Submission` per student folder in ``folder``, matching files to course notebook ``names``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: expected one sub-folder per student")
    submissions = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        sub = Submission(student_dir.name)
        found = sorted((p for p in student_dir.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts),
                       key=lambda p: (len(p.relative_to(student_dir).parts), p.name != _course_name(p, names),
                                      str(p)))
        for path in found:
            shown = path.relative_to(student_dir)
            if path.is_symlink():
                sub.notes.append(f"{shown} is a symbolic link: ignored")
                continue
            name = _course_name(path, names)
            if name is None:
                sub.notes.append(f"{shown} is not one of the graded notebooks: ignored")
            elif name in sub.notebooks:
                sub.notes.append(f"{shown}: another copy of {name} ({sub.notebooks[name].relative_to(student_dir)}) "
                                 "was graded instead")
            else:
                if str(shown) != name:
                    sub.notes.append(f"{shown} was graded as {name}")
                sub.notebooks[name] = path
        submissions.append(sub)
    return submissions


def read_cells(path: Path) -> list[dict]:
    """The cells of a submitted notebook (parsed as plain JSON: nothing in it runs); ``ValueError`` says why not."""
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is {size / 1024**2:.0f} MB, more than the {MAX_NOTEBOOK_BYTES // 1024**2} MB "
                         "allowed (clear the outputs and hand it in again)")
    try:
        raw = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"the file is not a notebook (invalid JSON: {err})") from None
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list):
        raise ValueError("the file is JSON but not a notebook (no list of cells)")
    good = []
    for cell in cells:
        if isinstance(cell, dict):
            source = cell.get("source", "")
            source = "".join(s for s in source if isinstance(s, str)) if isinstance(source, list) else source
            if isinstance(source, str):
                good.append({**cell, "source": source, "metadata": cell.get("metadata") if isinstance(
                    cell.get("metadata"), dict) else {}})
    return good


def locate_answer(cells: list[dict], item: GradedCell) -> int | None:
    """Index of the student's cell for ``item``: same cell id, else same nbgrader grade_id, else the last
    code cell that defines what the check needs."""
    code = [(i, c) for i, c in enumerate(cells) if c.get("cell_type") == "code"]
    for index, cell in code:
        if item.answer_id and cell.get("id") == item.answer_id:
            return index
    for index, cell in code:
        if (cell["metadata"].get("nbgrader") or {}).get("grade_id") == item.grade_id + "_answer":
            return index
    if item.needs:
        defining = [i for i, c in code if set(item.needs) <= set(defined_names(c["source"]))]
        if defining:
            return defining[-1]
    return None


def _check_cell_flags(cells: list[dict], item: GradedCell) -> list[str]:
    check = next((c for c in cells if item.check_id and c.get("id") == item.check_id), None)
    if check is None:
        return [f"the check cell of `{item.grade_id}` was deleted: it was graded with the course's check"]
    if check["source"].strip() != item.check_source.strip():
        shown = " ".join(check["source"].split())
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return [f"the check cell of `{item.grade_id}` was changed (it reads `{shown}`): it was graded with the "
                "course's check"]
    return []


def plan_notebook(student: str, notebook: str, path: Path | None, items: list[GradedCell]):
    """(rows graded without running anything, payloads for a worker, their rows to fill) for one notebook."""
    def row(item: GradedCell, verdict: str, message: str, flags=None) -> Row:
        return Row(student, notebook, item.grade_id, 0.0, item.points, verdict, message, list(flags or []))

    if path is None:
        return [row(i, NO_NOTEBOOK, f"no {notebook} in the submission") for i in items], [], []
    try:
        cells = read_cells(path)
    except (OSError, ValueError) as err:
        return [row(i, UNREADABLE, f"{notebook} cannot be read: {err}") for i in items], [], []
    done, payloads, pending = [], [], []
    all_checks = {name for i in items for name in i.check_names}
    answer_cells = set()
    for item in items:
        flags = _check_cell_flags(cells, item)
        index = locate_answer(cells, item)
        if index is None:
            wanted = ", ".join(f"`{n}`" for n in item.needs) or "its answer"
            done.append(row(item, MISSING, f"no cell of yours defines {wanted}: was the exercise cell deleted, "
                                           "or the function renamed?", flags))
            continue
        answer_cells.add(index)
        imports = [s for c in cells[:index] if c.get("cell_type") == "code" for s in import_statements(c["source"])]
        payloads.append(item_payload(item, cells[index]["source"], "\n".join(dict.fromkeys(imports))))
        pending.append(row(item, ERROR, "not graded", flags))
    notes = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code" and index not in answer_cells:
            for name in sorted(all_checks & set(defined_names(cell["source"], imports=False))):
                notes.append(f"cell {index} defines `{name}`, the name of a course check: this has no effect, "
                             "the grade uses the course's own checks")
    target = (pending or done)
    if notes and target:
        target[0].flags += notes
    return done, payloads, pending


def grade(submissions: str | Path, out: str | Path, solutions: str | Path | None = None,
          notebooks: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT, memory: int = DEFAULT_MEMORY,
          workers: int | None = None, progress: bool = True, echo: Callable[[str], None] = print) -> list[Row]:
    """Grade every student folder in ``submissions`` into ``out``; returns the rows of ``grades.csv``.

    ``notebooks``: the notebook file names to grade (default: every course notebook that anyone handed in).
    ``timeout``: seconds per exercise; ``memory``: bytes per exercise; ``workers``: processes in parallel
    (default: the CPU count, at most 4).
    """
    from ..config import project_root

    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    solutions = Path(solutions) if solutions is not None else project_root() / "solutions"
    if out == submissions or submissions in out.parents:
        raise ValueError(f"--out {out} is inside the submissions folder: choose a folder outside it")
    course = load_course(solutions)
    students = find_submissions(submissions, list(course))
    if not students:
        raise ValueError(f"no student folders in {submissions}: expected one sub-folder per student")
    if notebooks is None:
        notebooks = [n for n in course if any(n in s.notebooks for s in students)]
    unknown = [n for n in notebooks if n not in course]
    if unknown:
        raise ValueError(f"no exercises to grade in {', '.join(unknown)} (notebooks with exercises: "
                         f"{', '.join(course)})")
    if not notebooks:
        raise ValueError(f"none of the course's notebooks ({', '.join(course)}) was found in the student folders")
    done: list[Row] = []
    jobs: list[tuple[list[dict], list[Row]]] = []
    ordered: list[Row] = []
    for sub in students:
        for notebook in notebooks:
            fixed, payloads, pending = plan_notebook(sub.student, notebook, sub.notebooks.get(notebook),
                                                     course[notebook])
            done += fixed
            if payloads:
                jobs.append((payloads, pending))
            by_id = {r.exercise: r for r in fixed + pending}
            ordered += [by_id[item.grade_id] for item in course[notebook]]
    total = sum(len(p) for p, _ in jobs)
    workers = max(1, min(workers or min(os.cpu_count() or 1, 4), len(jobs) or 1))
    started = time.monotonic()
    echo(f"grading {len(students)} student{'s' if len(students) != 1 else ''}, {len(notebooks)} "
         f"notebook{'s' if len(notebooks) != 1 else ''}: {total} exercises to run in {workers} sandboxed "
         f"worker{'s' if workers != 1 else ''} ({timeout:g} s and {memory / 1024**3:.3g} GB each)")
    if jobs:
        _run_jobs(jobs, workers, {n: course[n] for n in notebooks}, timeout, memory, progress, echo)
    _write(out, ordered, students, echo)
    echo(f"graded in {time.monotonic() - started:.0f} s")
    return ordered


def _run_jobs(jobs, workers: int, course, timeout: float, memory: int, progress: bool, echo) -> None:
    from tqdm.auto import tqdm

    preload = "\n".join(dict.fromkeys(line for items in course.values() for item in items
                                      for line in item.setup.splitlines() if line.startswith(("import ", "from "))))
    root = tempfile.mkdtemp(prefix="course-grade-")
    os.chmod(root, 0o700)
    pool: queue.Queue = queue.Queue()
    bar = None

    warmup = [item_payload(item, item.answer_source) for items in course.values() for item in items]

    def start() -> Worker:
        return Worker(preload, root, timeout=timeout, memory=memory, warmup=warmup)

    def run(job) -> None:
        payloads, rows = job
        worker = pool.get()
        try:
            for attempt in (1, 2):
                try:
                    results = worker.grade(payloads)
                    break
                except WorkerFailed as err:
                    worker.close()
                    worker = start()
                    if attempt == 2:
                        results = [{"verdict": ERROR, "flags": [], "message": f"grader problem: {err}"}] * len(rows)
            for row, outcome in zip(rows, results, strict=True):
                row.verdict = str(outcome.get("verdict", ERROR))
                row.message = str(outcome.get("message", ""))
                row.flags += [str(f) for f in outcome.get("flags", [])]
                row.points = row.max_points if row.verdict == "pass" else 0.0
                row.seconds = float(outcome.get("seconds", 0.0))
            bar.update(len(payloads))
        finally:
            pool.put(worker)

    try:
        with ThreadPoolExecutor(workers) as executor:
            for worker in executor.map(lambda _: start(), range(workers)):
                pool.put(worker)
            echo(f"sandbox: {'; '.join(worker.protections)}")
            bar = tqdm(total=sum(len(p) for p, _ in jobs), unit="exercise", disable=not progress, desc="grading")
            list(executor.map(run, jobs))
    finally:
        if bar is not None:
            bar.close()
        while not pool.empty():
            pool.get().close()
        shutil.rmtree(root, ignore_errors=True)


def _write(out: Path, rows: list[Row], students: list[Submission], echo) -> None:
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    write_csv(rows, out / "grades.csv")
    for sub in students:
        mine = [r for r in rows if r.student == sub.student]
        (out / "feedback" / f"{sub.student}.md").write_text(feedback(sub.student, mine, sub.notes), encoding="utf-8")
    text = summary(rows)
    (out / "summary.md").write_text(text + "\n", encoding="utf-8")
    echo(text)
    echo(f"wrote {out / 'grades.csv'}, {len(students)} feedback files in {out / 'feedback'}, {out / 'summary.md'}")


def parse_size(text: str) -> int:
    """'2G', '512M', '1.5G' or a number of bytes -> bytes."""
    text = str(text).strip().upper().removesuffix("B")
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    try:
        value = float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        raise ValueError(f"not a size: {text!r} (examples: 2G, 512M)") from None
    if value <= 0:
        raise ValueError(f"the memory limit must be positive, got {text!r}")
    return int(value)


def add_arguments(parser) -> None:
    """The ``grade`` sub-command's options (used by ``course_utils.__main__``)."""
    parser.add_argument("submissions", metavar="SUBMISSIONS", help="a folder with one sub-folder per student")
    parser.add_argument("--out", required=True, metavar="RESULTS",
                        help="where grades.csv, feedback/<student>.md and summary.md go")
    parser.add_argument("--solutions", default=None,
                        help="the solution notebooks with the points (default: this checkout's solutions/)")
    parser.add_argument("--notebook", action="append", dest="notebooks", metavar="NOTEBOOK",
                        help="grade only this notebook (a number like 03, or a file name); repeatable")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds allowed per exercise (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--memory", default="2G", help="memory allowed per exercise (default 2G)")
    parser.add_argument("--workers", type=int, default=None, help="processes in parallel (default: CPU count, <= 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_from_args(args) -> int:
    """Run ``grade`` from parsed command-line arguments; returns the exit status."""
    import sys

    from ..config import project_root

    try:
        memory = parse_size(args.memory)
        if args.timeout <= 0:
            raise ValueError(f"--timeout must be positive, got {args.timeout:g}")
        solutions = Path(args.solutions) if args.solutions else project_root() / "solutions"
        notebooks = None
        if args.notebooks:
            names = sorted(p.name for p in solutions.glob("*.ipynb"))
            notebooks = []
            for wanted in args.notebooks:
                stem = Path(wanted).name.removesuffix(".ipynb")
                match = [n for n in names if n.removesuffix(".ipynb") == stem or n.startswith(f"{stem}_")]
                if len(match) != 1:
                    raise ValueError(f"--notebook {wanted}: no single solution notebook matches "
                                     f"(have: {', '.join(names)})")
                notebooks.append(match[0])
        grade(args.submissions, args.out, solutions=solutions, notebooks=notebooks, timeout=args.timeout,
              memory=memory, workers=args.workers, progress=not args.no_progress)
    except ValueError as err:
        print(f"grade failed: {err}", file=sys.stderr)
        return 1
    return 0
