"""A real browser on the interactive part of the course: JupyterLab in headless Chromium runs notebook 05 in
smoke (Run All), the latent explorer renders as sliders and an image, moving a slider changes the image, the
sliders fit the notebook, and the saved notebook shows a picture, not "Error displaying widget", both reopened
in JupyterLab after its kernel is gone and as a static HTML page without any kernel.

Runs on a copy of the notebook in a temporary folder (nothing in the repository changes; the numbers go to a
temporary results file); the trained models come from the usual cache, as for a student. Skipped, with the
reason printed, where Chromium, chromedriver or Selenium is missing (.ci/run installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser_tools import chromium, skip_if_missing

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "05_vae.ipynb"
EXPLORER_CELL = "vae-34"
pytestmark = pytest.mark.browser

FIND_JS = """
const app = window.jupyterapp;
const w = app && [...app.shell.widgets('main')].find(w => w.context && w.context.path === '05_vae.ipynb');
"""
PANEL_JS = FIND_JS + """
if (!w || !w.content || !w.sessionContext || !w.context.isReady) return null;
app.shell.activateById(w.id);
const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
const code = w.content.widgets.filter(c => c.model.type === 'code');
const errors = code.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                 .map(o => `${o.ename}: ${o.evalue}`));
return {kernel: kernel ? kernel.status : null, cells: code.length, dirty: w.context.model.dirty,
        done: code.filter(c => c.model.executionCount !== null).length, errors: errors,
        running: [...w.content.node.querySelectorAll('.jp-InputArea-prompt')]
                 .filter(p => p.textContent.includes('*')).length};
"""
MARK_JS = FIND_JS + """
const cell = w.content.widgets.find(c => c.model.id === arguments[0]) ||
             w.content.widgets.find(c => c.model.sharedModel.getSource().includes('LatentExplorer('));
if (!cell) return false;
cell.node.setAttribute('data-test', 'explorer'); cell.node.scrollIntoView(); return true;
"""
EXPLORER_JS = """
const cell = document.querySelector('[data-test=explorer]');
if (!cell) return null;
const area = cell.querySelector('.jp-OutputArea');
const imgs = [...cell.querySelectorAll('.jp-OutputArea-output img')];
const widgetImg = cell.querySelector('.jupyter-widgets img');
const sliders = [...cell.querySelectorAll('.jupyter-widgets .widget-slider, .jupyter-widgets .widget-hslider')];
const right = area ? area.getBoundingClientRect().right : 0;
return {text: cell.innerText, sliders: sliders.length,
        plain: imgs.filter(i => !i.closest('.jupyter-widgets')).map(i => i.complete && i.naturalWidth > 0),
        widgetSrc: widgetImg ? widgetImg.src : null,
        widgetLoaded: widgetImg ? widgetImg.complete && widgetImg.naturalWidth > 0 : false,
        overflow: sliders.filter(s => s.getBoundingClientRect().right > right + 1).length,
        areaWidth: area ? Math.round(area.getBoundingClientRect().width) : 0,
        readouts: [...cell.querySelectorAll('.widget-readout')].map(r => r.textContent)};
"""


def _wait(what: str, probe, timeout: float, every: float = 0.5):
    """Call ``probe()`` until it returns something truthy; fail with ``what`` and the last value after ``timeout``."""
    end, value = time.monotonic() + timeout, None
    while time.monotonic() < end:
        value = probe()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {value!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """JupyterLab user settings for the test: the course's own defaults (save widget state), every cell rendered
    (no windowing, so the explorer's output is in the page), no news pop-up."""
    course = json.loads((ROOT / "course_utils" / "dgm-course-jupyterlab.json").read_text())
    settings = {**{k: v for k, v in course.items()},
                "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
                "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    for plugin, values in settings.items():
        package, name = plugin.split(":")
        path = folder / package / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free local port serving a copy of notebook 05; yields (base url, token, folder)."""
    skip_if_missing()                                       # before starting anything
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "solutions" / NOTEBOOK, work / NOTEBOOK)
    _settings(tmp_path / "lab-settings")
    port, token = _free_port(), "course-browser-test"
    # the kernel inherits this: smoke, numbers to a temporary file, the usual cache (a fresh one would retrain the
    # shared FID classifier), matplotlib's inline backend as for a student (not the test suite's Agg)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update({"COURSE_PROFILE": "smoke", "COURSE_RESULTS": str(tmp_path / "results.json"),
                "COURSE_THREADS": "1", "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
                "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                "IPYTHONDIR": str(tmp_path / "ipython"), "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser", "--ip=127.0.0.1",
                               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
                               "--allow-root", "--LabApp.expose_app_in_browser=True",
                               "--ServerApp.port_retries=0", "--LabApp.news_url=None"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(work))
    base = f"http://127.0.0.1:{port}"

    def up():
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False
    try:
        _wait("JupyterLab to start", up, 120)
        yield base, token, work
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _open(driver, base: str, token: str):
    driver.get(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    return _wait("the notebook with an idle kernel",
                 lambda: (lambda s: s if s and s["kernel"] == "idle" and s["cells"] else None)(
                     driver.execute_script(PANEL_JS)), 180)


def _explorer(driver, what: str, ready, timeout: float = 60):
    def probe():
        driver.execute_script(MARK_JS, EXPLORER_CELL)
        state = driver.execute_script(EXPLORER_JS)
        return state if state and ready(state) else None
    return _wait(what, probe, timeout)


def test_latent_explorer_in_jupyterlab(lab, tmp_path):
    base, token, work = lab
    driver = chromium(tmp_path / "chromium-profile", 1000, 900)   # skips with its reason when Chromium is missing
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    timings = {}
    try:
        start = time.perf_counter()
        _open(driver, base, token)
        timings["open"] = time.perf_counter() - start

        start = time.perf_counter()
        driver.execute_script(FIND_JS + "app.shell.activateById(w.id); app.commands.execute('notebook:run-all-cells');")

        def finished():
            state = driver.execute_script(PANEL_JS)
            if state and state["errors"]:
                pytest.fail(f"Run All stopped on an error: {state['errors']}")
            return state if state and state["done"] == state["cells"] and state["kernel"] == "idle" \
                and not state["running"] else None
        _wait("Run All to finish", finished, 540, every=2)
        timings["run all"] = time.perf_counter() - start

        # the explorer: a plain starting image, then the widget's image and its sliders, inside the page
        shown = _explorer(driver, "the explorer's sliders and image",
                          lambda s: s["sliders"] >= 2 and s["widgetLoaded"] and any(s["plain"]))
        assert "Error displaying widget" not in shown["text"]
        assert shown["overflow"] == 0, f"sliders overflow the {shown['areaWidth']}-px output area: {shown}"
        before = shown["widgetSrc"]
        driver.save_screenshot(str(tmp_path / "explorer.png"))     # to look at: pytest --basetemp=DIR keeps it

        # moving a slider (a real drag of its handle) changes the image
        handle = driver.find_element(By.CSS_SELECTOR, "[data-test=explorer] .jupyter-widgets .noUi-handle")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
        ActionChains(driver).click_and_hold(handle).move_by_offset(45, 0).release().perform()
        moved = _explorer(driver, "the image to change after a slider moved", lambda s: s["widgetSrc"] != before)
        assert moved["readouts"] != shown["readouts"]

        # save; the file on disk has the plain picture (and the widget state, the course's JupyterLab default)
        driver.execute_script(FIND_JS + "w.context.save();")
        _wait("the save", lambda: not driver.execute_script(PANEL_JS)["dirty"], 60)
        saved = json.loads((work / NOTEBOOK).read_text())
        cell = next(c for c in saved["cells"] if c.get("id") == EXPLORER_CELL)
        assert any("image/png" in out.get("data", {}) for out in cell["outputs"]), "no plain picture saved"
        assert "widgets" in saved["metadata"], "JupyterLab did not save the widget state"

        # reopened after its kernel is gone: a new kernel knows none of the widgets, the page still shows them
        driver.execute_script(FIND_JS + "w.sessionContext.shutdown();")
        time.sleep(2)
        start = time.perf_counter()
        _open(driver, base, token)
        again = _explorer(driver, "the reopened explorer", lambda s: any(s["plain"]) and s["sliders"] >= 2)
        assert all(again["plain"]), "the saved picture does not load"
        assert "Error displaying widget" not in again["text"]
        timings["reopen"] = time.perf_counter() - start

        # a static view without any kernel (what GitHub, nbviewer or an e-mailed HTML show): the picture
        html = tmp_path / "static.html"
        subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(work / NOTEBOOK),
                        "--output", str(html)], check=True, capture_output=True, timeout=300)
        driver.get(html.as_uri())
        static = driver.execute_script(
            "const c = [...document.querySelectorAll('.jp-Cell')].find(c => c.innerText.includes('LatentExplorer('));"
            "return c && {text: c.innerText, imgs: [...c.querySelectorAll('img')].map("
            "i => i.complete && i.naturalWidth > 0)};")
        assert static and any(static["imgs"]), f"the static page shows no picture for the explorer: {static}"
        assert "Error displaying widget" not in static["text"]
        print("browser test: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
              + f"; explorer output area {shown['areaWidth']} px wide, {shown['sliders']} sliders, none overflowing")
    except BaseException:  # pytest.fail too
        driver.save_screenshot(str(tmp_path / "failure.png"))
        print(f"screenshot: {tmp_path / 'failure.png'}; JupyterLab log: {tmp_path / 'jupyterlab.log'}")
        raise
    finally:
        driver.quit()
