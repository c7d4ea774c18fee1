"""Build the course website, a static HTML book: ``make site`` (or ``python book/build.py``).

Pages: a front page, the notebook map, every notebook with the outputs of a real run, the metrics and claims
table of that run (``metrics.md``), and the lecture notes (``docs/lecture-notes.md``, when present).

Which run: the lecture (or full) run in ``build/`` when there is a complete one (``python -m course_utils run``
writes ``build/<name>.ipynb`` and ``build/metrics-<profile>.md``; every solution notebook there must have finished
with that profile, as papermill recorded in it); else a smoke run of every solution notebook into its own
folder, ``build/site-smoke/`` (reused while no solution notebook is newer), so ``build/`` is left alone.
``--notebooks DIR`` takes the executed notebooks (and ``metrics.md``) from DIR instead.

The tool is Sphinx with myst-nb and sphinx-book-theme (configuration: ``book/conf.py``): all three install
from PyPI (``pip install -e '.[site]'``) and build without a network; myst-nb shows the notebooks' stored
outputs without running them. The site lands in ``build/site/html`` (open ``index.html``).

    python book/build.py                      # pick the run as above, build into build/site/html
    python book/build.py --notebooks DIR --out OUT
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = Path(__file__).resolve().parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SMOKE_DIR = "site-smoke"
NOTES = Path("docs") / "lecture-notes.md"


# --- which run --------------------------------------------------------------------------------------

def solution_names(root: Path = ROOT) -> list[str]:
    return sorted(p.stem for p in (root / "solutions").glob("*.ipynb"))


def smoke_run(folder: Path, root: Path = ROOT) -> Path:
    """Execute the solution notebooks in smoke into ``folder``: those without a finished smoke copy there or
    edited since it was made (the rest are kept, and so are their rows in the folder's metrics table)."""
    sources = sorted((root / "solutions").glob("*.ipynb"))
    stale = [s for s in sources if executed_profile(folder / s.name) != "smoke"
             or (folder / s.name).stat().st_mtime < s.stat().st_mtime]
    if not stale and (folder / "metrics.md").is_file():
        print(f"site: no lecture run in {root / 'build'}; reusing the smoke run in {folder}")
        return folder
    sys.path.insert(0, str(root))
    from course_utils.runner import run_notebook, write_summary

    print(f"site: no lecture run in {root / 'build'}; executing {len(stale)} of {len(sources)} notebooks in smoke "
          f"into {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    runs, start = [], time.perf_counter()
    for source in stale:
        run = run_notebook(source, "smoke", folder)
        print(f"  {run.name:32s} {run.status:7s} {run.seconds:6.1f} s {run.error}")
        runs.append(run)
    write_summary(runs, "smoke", time.perf_counter() - start, folder)
    return folder


def executed_profile(notebook: Path) -> str | None:
    """The profile ``notebook`` was executed with (papermill's record) when that run finished, else None."""
    try:
        record = json.loads(notebook.read_text())["metadata"].get("papermill", {})
        return record["parameters"]["profile"] if record.get("end_time") else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def lecture_run(build: Path, root: Path = ROOT) -> str | None:
    """'lecture' or 'full' when ``build`` holds every solution notebook, each finished with that profile."""
    names = solution_names(root)
    profiles = {executed_profile(build / f"{name}.ipynb") for name in names}
    profile = profiles.pop() if len(profiles) == 1 else None
    return profile if names and profile in ("lecture", "full") else None


def pick_run(root: Path = ROOT) -> tuple[Path, str]:
    """The folder of executed notebooks to publish and the name of its summary (``metrics-lecture``, ...)."""
    build = root / "build"
    profile = lecture_run(build, root)
    if profile:
        print(f"site: using the {profile} run in {build}")
        name = f"metrics-{profile}"
        return build, name if (build / f"{name}.md").is_file() else "metrics"
    return smoke_run(build / SMOKE_DIR, root), "metrics"


# --- staging the pages -------------------------------------------------------------------------------

def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def static_outputs(nb: dict) -> dict:
    """The notebook with widget outputs reduced to what a page without a kernel can show.

    A widget's display output keeps its plain-text fallback when that says something (a progress bar's
    text), and goes when it is only the widget's repr: the course's widgets put their picture in an ordinary
    output of their own (the latent explorer's starting image). Widget state in the metadata goes too.
    """
    for cell in nb["cells"]:
        outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                text = data.get("text/plain", "")
                text = "".join(text) if isinstance(text, list) else text
                if not text.strip() or re.match(r"^\w+\(", text.strip()):
                    continue
                out = {**out, "data": {"text/plain": text}}
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def title_of(nb: dict, fallback: str) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def _relink(text: str, here: Path, staged: set[str]) -> str:
    """Markdown links ``[t](target)`` to files of the repository, from a page at ``here`` (a path relative to
    the site root): a solutions/ or notebooks/ notebook points at its page, a staged page stays a link, and
    any other local target (outside the site) becomes plain text, so the site has no broken link."""
    def fix(match: re.Match) -> str:
        label, target = match.group(1), match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):          # http:, mailto:, #anchor
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = Path(*(here.parent / path).parts)
        parts = []
        for part in resolved.parts:                          # normalise ../ without touching the disk
            if part == "..":
                if parts:
                    parts.pop()
            elif part != ".":
                parts.append(part)
        rel = Path(*parts) if parts else Path(".")
        if rel.parts and rel.parts[0] == "solutions":
            rel = Path("notebooks", *rel.parts[1:])
        if rel.as_posix() in staged:
            new = Path(*([".."] * (len(here.parts) - 1)), rel).as_posix()
            return f"[{label}]({new}{'#' + anchor if anchor else ''})"
        return label
    return re.sub(r"(?<!!)\[([^\]\n]+)\]\(([^)\s]+)\)", fix, text)


def stage(run: Path, src: Path, root: Path = ROOT, summary: str = "metrics") -> list[str]:
    """Write the site's sources into ``src`` from the executed notebooks in ``run`` and its summary (``summary``.json
    and .md, the metrics and claims); returns the page names."""
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    names = [n for n in solution_names(root) if (run / f"{n}.ipynb").is_file()] if run == root / "build" else \
        sorted(p.stem for p in run.glob("*.ipynb"))
    staged = {f"notebooks/{n}.ipynb" for n in names} | {"map.md", "metrics.md", "index.md"}
    notes = root / NOTES
    if notes.is_file():
        staged.add(NOTES.as_posix())
    titles = {}
    for name in names:
        nb = static_outputs(json.loads((run / f"{name}.ipynb").read_text()))
        titles[name] = title_of(nb, name)
        here = Path("notebooks", f"{name}.ipynb")
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = _relink(_source(cell), here, staged)
        (src / here).write_text(json.dumps(nb, indent=1, ensure_ascii=False))
    if notes.is_file():
        (src / "docs").mkdir()
        (src / NOTES).write_text(_relink(notes.read_text(), NOTES, staged))
        for image in re.findall(r"!\[[^\]]*\]\(([^)\s:]+)\)", notes.read_text()):   # its own figures, if any
            if (notes.parent / image).is_file():
                (src / "docs" / image).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(notes.parent / image, src / "docs" / image)

    table = {}
    try:
        table = json.loads((run / f"{summary}.json").read_text())
    except (OSError, ValueError):
        pass
    profile = table.get("profile", "unknown")
    seconds = {name: nb.get("seconds") for name, nb in table.get("notebooks", {}).items()}
    rows = ["# Notebook map", "",
            f"Each page shows a notebook as the `{profile}` profile ran it"
            + (" (smoke numbers prove that every cell runs; they are not meaningful)." if profile == "smoke" else "."),
            "Run them yourself: `make lab` opens the student versions in JupyterLab.", "",
            "| # | notebook | run time |", "|---|---|---:|"]
    for name in names:
        number = name.split("_", 1)[0]
        took = f"{seconds[name]:.0f} s" if seconds.get(name) is not None else "-"
        rows.append(f"| {number} | [{titles[name]}](notebooks/{name}.ipynb) | {took} |")
    (src / "map.md").write_text("\n".join(rows) + "\n")

    metrics = run / f"{summary}.md"
    text = metrics.read_text() if metrics.is_file() else "# Metrics and claims\n\nThis run wrote no metrics.md.\n"
    text = re.sub(r"^# .*", lambda m: "# Metrics and claims\n\n" + m.group(0).replace("# ", "**", 1) + "**",
                  text, count=1, flags=re.M)
    (src / "metrics.md").write_text(text)

    pages = ["map", "metrics"] + ([NOTES.with_suffix("").as_posix()] if notes.is_file() else [])
    notebooks = [f"notebooks/{n}" for n in names]
    index = ["# Deep Generative Models, hands-on", "",
             "A runnable course on deep generative models with PyTorch: each notebook builds one family of models",
             "step by step on real digits, trains it on a laptop CPU and measures what the lecture claims about it.",
             "These pages show the notebooks with the outputs of one run "
             f"(profile `{profile}`); the [notebook map](map.md) lists them and the [metrics](metrics.md) page",
             "has that run's numbers and the verdict on every claim the notebooks make"
             + (", and the [lecture notes](docs/lecture-notes.md) retell the lecture." if notes.is_file() else "."),
             "", "```{toctree}", ":maxdepth: 1", ":caption: The course", "", *pages, "```", "",
             "```{toctree}", ":maxdepth: 1", ":caption: Notebooks", "", *notebooks, "```", ""]
    (src / "index.md").write_text("\n".join(index))
    return ["index", *pages, *notebooks]


def build(run: Path, out: Path, root: Path = ROOT, summary: str = "metrics") -> Path:
    """Stage the pages from ``run`` (its ``summary``.json/.md) and build the HTML into ``out``; returns ``out``."""
    src = out.parent / "src"
    pages = stage(run, src, root, summary)
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "1", "-c", str(BOOK), "-E",
           "-d", str(out.parent / "doctrees"), str(src), str(out)]
    result = subprocess.run(cmd, cwd=str(out.parent), text=True, capture_output=True)
    if result.returncode:
        raise SystemExit(f"sphinx-build failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    print(f"site: {len(pages)} pages in {out / 'index.html'} ({time.perf_counter() - start:.0f} s"
          + (f"; {len(warnings)} Sphinx warnings, e.g. {warnings[0]}" if warnings else "") + ")")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="book/build.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks", type=Path, help="a folder of executed notebooks (and metrics.md) to use")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site" / "html", help="default: build/site/html")
    args = parser.parse_args(argv)
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as err:
        print(f"site: {err.name} is missing: install the site tools with  .venv/bin/python -m pip install "
              f"-c constraints.txt -e '.[site]'", file=sys.stderr)
        return 2
    run, summary = (args.notebooks.resolve(), "metrics") if args.notebooks else pick_run()
    build(run, args.out.resolve(), ROOT, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
