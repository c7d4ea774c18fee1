"""How long the grader takes for a class: a generated class of 30 students, every notebook, graded end to end.

Each student hands in every notebook of ``solutions/``. For each exercise a student (seeded at random) solved
it (55%), left the stub (25%), handed in a wrong version (10%: the exercise's solution with its last solution
line dropped, which usually fails or errors), or broke it (10%: a syntax error, a renamed function, a
``sys.exit``, or a patched check). The class is written to a temporary folder, then graded with
``course_utils.grading.grade.grade`` (the code behind ``python -m course_utils grade``), default limits and
as many workers as CPUs; the script prints the wall time and whether it is within the target.

    .venv/bin/python benchmarks/grade_class.py                   # 30 students, every notebook
    .venv/bin/python benchmarks/grade_class.py --students 5 --notebooks 00 01 --keep /tmp/class

Recorded on the course's 2-core CPU (target: a class of 30 with all notebooks within 10 minutes), while
the machine also ran other people's notebooks (load average about 12 on its 2 cores):

    30 students, 9 notebooks (00-08), 26 exercises each = 780 exercises, 2 workers:
        load average 12: 3.5 min in all (208 s; 206 s grading, the rest reading and planning), 97 s of CPU
        load average 9:  2.3 min in all (137 s), 91 s of CPU
        slowest checks (mean per student): 05 iw_log_likelihood 0.5-0.7 s, 06 gan_step 0.3-0.5 s
    So on an otherwise idle 2-core machine about 1 minute (CPU time / 2 cores); 10 minutes would take a
    class of roughly 200-300 students.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

import course_utils.grading.grade as grading
from course_utils.config import project_root
from course_utils.grading import metadata
from course_utils.release import BEGIN, END, notebook_bytes, student_notebook

TARGET_SECONDS = 600
BROKEN = [
    ("syntax error", lambda source: source.replace("def ", "def (", 1)),
    ("renamed", lambda source: source.replace("def ", "def my_", 1)),
    ("sys.exit", lambda source: "import sys\nsys.exit(1)\n" + source),
    ("patched check", lambda source: "import course_utils.checks as c\nc.expect = lambda *a, **k: None\n" + source),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=30, help="class size (default 30)")
    parser.add_argument("--notebooks", nargs="*", default=None, help="notebook numbers (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated class")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument("--keep", default=None, help="write the class and results here and keep them")
    args = parser.parse_args(argv)
    if args.students < 1:
        parser.error(f"--students must be at least 1, got {args.students}")
    return args


def wrong_version(source: str) -> str:
    """The solution with the last line of each solution region dropped (often a missing return)."""
    lines = source.splitlines(keepends=True)
    out, region = [], []
    inside = False
    for line in lines:
        if line.strip() == BEGIN:
            inside, region = True, []
        elif line.strip() == END:
            inside = False
            kept = region[:-1] or [line.replace(END, "pass")]
            out += kept
        elif inside:
            region.append(line)
        else:
            out.append(line)
    return "".join(out)


def make_class(folder: Path, solutions: dict[str, nbformat.NotebookNode], students: int, seed: int) -> dict:
    """Write ``students`` generated student folders into ``folder``; returns how many of each kind."""
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    for number in range(students):
        student = folder / f"student{number:03d}"
        student.mkdir(parents=True)
        for name, solution in solutions.items():
            nb = student_notebook(solution, name)
            for item in metadata.graded_cells(solution, name):
                roll = rng.random()
                if roll < 0.55:
                    kind, source = "solved", item.answer_source
                elif roll < 0.80:
                    kind, source = "stub", None
                elif roll < 0.90:
                    kind, source = "wrong", wrong_version(item.answer_source)
                else:
                    kind, breaker = rng.choice(BROKEN)
                    source = breaker(item.answer_source)
                if source is not None:
                    nb.cells[item.answer_index].source = source
                kinds[kind] = kinds.get(kind, 0) + 1
            (student / name).write_bytes(notebook_bytes(nb))
    return kinds


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and every finished process below it (workers, their children)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from course_utils.release import read_notebook

    paths = sorted((project_root() / "solutions").glob("*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if any(p.name.startswith(f"{n}_") or p.stem == n for n in args.notebooks)]
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="grade-bench-"))
    if args.keep and base.exists():
        shutil.rmtree(base)
    try:
        solutions = {}
        for path in paths:
            nb = read_notebook(path)
            metadata.annotate(nb)  # a no-op when solutions/ is annotated
            if metadata.graded_cells(nb):
                solutions[path.name] = nb
                (base / "solutions").mkdir(parents=True, exist_ok=True)
                (base / "solutions" / path.name).write_bytes(notebook_bytes(nb))
        kinds = make_class(base / "class", solutions, args.students, args.seed)
        exercises = sum(len(metadata.graded_cells(nb)) for nb in solutions.values())
        print(f"class of {args.students}, {len(solutions)} notebooks, {exercises} exercises each: "
              + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())), flush=True)
        cpu_before = _cpu_seconds()
        load = os.getloadavg()[0]
        start = time.monotonic()
        rows = grading.grade(base / "class", base / "results", solutions=base / "solutions",
                             workers=args.workers)
        seconds = time.monotonic() - start
        cpu = _cpu_seconds() - cpu_before
        points = sum(r.points for r in rows)
        slowest: dict[str, list[float]] = {}
        for row in rows:
            if row.seconds:
                slowest.setdefault(f"{row.notebook.split('_')[0]} {row.exercise}", []).append(row.seconds)
        top = sorted(slowest.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))[:5]
        print("slowest exercises (mean s per student): "
              + ", ".join(f"{name} {sum(v) / len(v):.2f}" for name, v in top))
        cores = os.cpu_count() or 1
        print(f"graded {len(rows)} exercises in {seconds:.0f} s ({seconds / 60:.1f} min; "
              f"{seconds / args.students:.1f} s per student); {points:g} points in all; "
              f"target {TARGET_SECONDS // 60} min: {'met' if seconds <= TARGET_SECONDS else 'MISSED'}")
        print(f"CPU time of the grader and all its processes: {cpu:.0f} s, i.e. about {cpu / cores / 60:.1f} min "
              f"of wall time on {cores} otherwise idle cores (load average when it started: {load:.1f})")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
