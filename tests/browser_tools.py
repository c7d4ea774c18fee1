"""Headless Chromium for the browser tests (test_browser.py, test_site.py): Debian's ``chromium`` and
``chromium-driver`` driven by Selenium. ``.ci/run`` installs them; where one is missing the tests are skipped
with the reason (pytest's -ra prints it), never passed silently."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]
INSTALL_HINT = "apt-get install -y chromium chromium-driver; pip install selenium (what .ci/run does)"


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
        if found:
            return found
    return None


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium, its driver and Selenium are all present."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"Selenium is not installed ({INSTALL_HINT})"
    if not _find(os.environ.get("CHROMIUM", "chromium"), "chromium-browser", "/usr/bin/chromium"):
        return f"no Chromium found ({INSTALL_HINT})"
    if not _find(os.environ.get("CHROMEDRIVER", "chromedriver"), "/usr/bin/chromedriver"):
        return f"no chromedriver found ({INSTALL_HINT})"
    return None


def chromium(profile_dir: Path, width: int = 1000, height: int = 900):
    """A headless Chromium WebDriver with a fresh user-data-dir, ``width`` x ``height`` px; skips if missing."""
    reason = missing()
    if reason:
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find(os.environ.get("CHROMIUM", "chromium"), "chromium-browser", "/usr/bin/chromium")
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_find(os.environ.get("CHROMEDRIVER", "chromedriver"), "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    return driver
