"""What the grader writes: ``grades.csv``, one ``feedback/<student>.md`` each, and a summary per notebook."""

from __future__ import annotations

import csv
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

CSV_COLUMNS = ("student", "notebook", "exercise", "points", "max_points", "verdict")


@dataclass
class Row:
    """One graded item of one student's notebook: its points and verdict, the check's message, any flags."""

    student: str
    notebook: str
    exercise: str
    points: float
    max_points: float
    verdict: str
    message: str
    flags: list[str] = field(default_factory=list)
    seconds: float = 0.0  # how long grading it took (not in the CSV)


def number(value: float) -> str:
    """Points as people write them: 2, 0.5."""
    return f"{value:g}"


def write_csv(rows: list[Row], path: Path) -> None:
    """``grades.csv``: one line per student, notebook and exercise (columns :data:`CSV_COLUMNS`)."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow([row.student, row.notebook, row.exercise, number(row.points),
                             number(row.max_points), row.verdict])


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def feedback(student: str, rows: list[Row], notes: list[str] | None = None) -> str:
    """The Markdown feedback for one student: totals, then every check's message, notebook by notebook."""
    total, most = sum(r.points for r in rows), sum(r.max_points for r in rows)
    lines = [f"# Feedback for {student}", "", f"Total: {number(total)} / {number(most)} points", ""]
    for note in notes or []:
        lines.append(f"- Note: {_one_line(note)}")
    if notes:
        lines.append("")
    by_notebook: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_notebook[row.notebook].append(row)
    for notebook, items in by_notebook.items():
        got, out_of = sum(r.points for r in items), sum(r.max_points for r in items)
        lines += [f"## {notebook}: {number(got)} / {number(out_of)} points", ""]
        for row in items:
            lines.append(f"- **{row.exercise}** ({number(row.points)} / {number(row.max_points)}, {row.verdict}): "
                         f"{_one_line(row.message)}")
            lines += [f"  - Flag: {_one_line(flag)}" for flag in row.flags]
        lines.append("")
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """Per notebook: mean and spread of the students' points, and per exercise what the class got wrong."""
    by_notebook: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_notebook[row.notebook].append(row)
    lines = []
    for notebook, items in by_notebook.items():
        students = sorted({r.student for r in items})
        totals = [sum(r.points for r in items if r.student == s) for s in students]
        most = max(sum(r.max_points for r in items if r.student == s) for s in students)
        mean = statistics.fmean(totals)
        spread = statistics.pstdev(totals) if len(totals) > 1 else 0.0
        share = f" ({100 * mean / most:.0f}%)" if most else ""
        lines.append(f"{notebook}: {len(students)} student{'s' if len(students) != 1 else ''}, mean "
                     f"{mean:.2f} / {number(most)}{share}, spread (sd) {spread:.2f}, "
                     f"min {number(min(totals))}, max {number(max(totals))}")
        exercises = list(dict.fromkeys(r.exercise for r in items))
        width = max(len(e) for e in exercises)
        for exercise in exercises:
            mine = [r for r in items if r.exercise == exercise]
            passed = sum(r.verdict == "pass" for r in mine)
            wrong = Counter(_one_line(r.message) for r in mine if r.verdict != "pass")
            line = f"  {exercise:<{width}}  {passed}/{len(mine)} pass"
            if wrong:
                message, count = wrong.most_common(1)[0]
                shown = message if len(message) <= 110 else message[:107] + "..."
                line += f"; most common failure ({count}x): {shown}"
            lines.append(line)
        flagged = sorted({r.student for r in items if r.flags or r.verdict == "tampered"})
        if flagged:
            lines.append(f"  flagged (see their feedback): {', '.join(flagged)}")
    return "\n".join(lines)
