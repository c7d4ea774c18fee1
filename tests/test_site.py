"""The course website (``make site``, book/build.py): it builds offline from executed notebooks, and every page
opens in headless Chromium with no broken image or link; the latent explorer's page shows its picture, never
"Error displaying widget". Skipped, with the reason printed, where Chromium or the site tools are missing.

To keep CI short the pages come from notebook 00 executed in smoke, a small executed notebook that displays a
latent explorer, and the other solution notebooks as they are (no outputs): every course page's text and links
are checked, the figures of one real run too. ``make site`` itself uses a full run (see book/build.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
from browser_tools import chromium, skip_if_missing

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser

EXPLORER_NOTEBOOK = [
    "import torch\nfrom course_utils.widgets import LatentExplorer",
    "def decode(z):  # (1, 3) -> (1, 1, 28, 28): a blob whose size follows z[0]\n"
    "    r = torch.linspace(-1, 1, 28)\n"
    "    return (r[:, None] ** 2 + r[None, :] ** 2 < 0.3 + 0.1 * z[0, 0]).float().view(1, 1, 28, 28)\n"
    "explorer = LatentExplorer(decode, torch.zeros(3))\n"
    "display(explorer)",
]
PAGE_JS = """
if (document.readyState !== 'complete' || !document.body) return null;
const links = [...document.querySelectorAll('a[href], link[href]')].map(a => a.href);
const scripts = [...document.querySelectorAll('script[src]')].map(s => s.src);
const images = [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0, i.loading]);
return {links: links.concat(scripts), images: images, text: document.body.innerText, title: document.title};
"""


def _site_tools_missing() -> str | None:
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as err:
        return f"the site tools are not installed ({err.name}): pip install -c constraints.txt -e '.[site]'"
    return None


def _executed_notebooks(folder: Path) -> None:
    """Executed notebooks in ``folder``: 00 in smoke (the course runner), the explorer demo, the rest as they are."""
    from nbclient import NotebookClient

    from course_utils.runner import run_notebook, write_summary

    folder.mkdir()
    for source in sorted((ROOT / "solutions").glob("*.ipynb")):
        shutil.copy(source, folder / source.name)
    runs = [run_notebook(ROOT / "solutions" / "00_setup_and_tour.ipynb", "smoke", folder)]
    assert runs[0].status == "ok", runs[0].error
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# An explorer, executed\n\nIts picture must survive: "
                                              "[back to the map](../map.md), [notebook 00](00_setup_and_tour.ipynb).")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in EXPLORER_NOTEBOOK]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    assert "widgets" in nb.metadata            # nbclient saved the widget state: the site must not need it
    nbformat.write(nb, folder / "99_explorer_demo.ipynb")
    write_summary(runs, "smoke", runs[0].seconds, folder)


def _check_page(driver, page: Path, html_root: Path) -> tuple[list[str], int]:
    """Problems on one page (broken images, links to missing files or anchors); and its external link count."""
    driver.get(page.as_uri())
    found, end = None, time.monotonic() + 30
    while found is None and time.monotonic() < end:       # get() returns at the load event; be sure of the body
        found = driver.execute_script(PAGE_JS)
        if found is None:
            time.sleep(0.2)
    if found is None:
        return [f"the page did not finish loading in 30 s: {page}"], 0
    problems, external = [], 0
    for src, loaded, loading in found["images"]:
        path = Path(unquote(urlparse(src).path))
        if not loaded and not (loading == "lazy" and path.is_file()):
            problems.append(f"broken image {src}")
    for href in found["links"]:
        url = urlparse(href)
        if url.scheme in ("http", "https"):
            external += 1
            continue
        if url.scheme != "file":
            continue
        path = Path(unquote(url.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            problems.append(f"link to a missing file {href}")
        elif url.fragment and path.suffix == ".html" and \
                not re.search(rf'id="{re.escape(unquote(url.fragment))}"', path.read_text(errors="replace")):
            problems.append(f"link to a missing anchor {href}")
    if "Error displaying widget" in found["text"]:
        problems.append("shows 'Error displaying widget'")
    return problems, external


def test_site_builds_offline_and_every_page_opens_in_chromium(tmp_path):
    reason = _site_tools_missing()
    if reason:
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    skip_if_missing()
    driver = chromium(tmp_path / "chromium-profile")        # skips with its reason when Chromium is missing
    try:
        start = time.perf_counter()
        _executed_notebooks(tmp_path / "run")
        executed = time.perf_counter() - start
        # offline: any HTTP(S) request the build made would go to a closed local port and fail
        env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
        start = time.perf_counter()
        out = tmp_path / "site" / "html"
        result = subprocess.run([sys.executable, str(ROOT / "book" / "build.py"), "--notebooks", str(tmp_path / "run"),
                                 "--out", str(out)], env=env, capture_output=True, text=True, timeout=600)
        built = time.perf_counter() - start
        assert result.returncode == 0, result.stdout + result.stderr
        pages = sorted(p for p in out.rglob("*.html") if p.relative_to(out).parts[0] not in ("_static", "_sources"))
        names = {p.relative_to(out).as_posix() for p in pages}
        assert {"index.html", "map.html", "metrics.html", "notebooks/00_setup_and_tour.html",
                "notebooks/05_vae.html", "notebooks/99_explorer_demo.html"} <= names
        if (ROOT / "docs" / "lecture-notes.md").is_file():
            assert "docs/lecture-notes.html" in names

        start = time.perf_counter()
        problems, external = {}, 0
        for page in pages:
            page_problems, page_external = _check_page(driver, page, out)
            external += page_external
            if page_problems:
                problems[page.relative_to(out).as_posix()] = page_problems
        browsed = time.perf_counter() - start
        assert not problems, json.dumps(problems, indent=1)

        demo = (out / "notebooks" / "99_explorer_demo.html").read_text()
        assert re.search(r'<img[^>]+src="[^"]+\.png"', demo), "the explorer's starting image is not on its page"
        assert "HBox(" not in demo and "application/vnd.jupyter.widget-view" not in demo
        map_page = (out / "map.html").read_text()
        assert "notebooks/05_vae.html" in map_page and "metrics.html" in (out / "index.html").read_text()
        assert "mostly_blank_paper" in (out / "metrics.html").read_text() or "blank paper" in \
            (out / "metrics.html").read_text()                          # the claims table of the run
        print(f"site test: notebooks executed in {executed:.0f} s, site built in {built:.0f} s, {len(pages)} pages "
              f"opened in Chromium in {browsed:.0f} s ({external} external links not followed: offline)")
    finally:
        driver.quit()
