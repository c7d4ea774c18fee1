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


def _chromium() -> str | None:
    """$CHROMIUM when set (a path or a command), else Debian's chromium."""
    return _find(os.environ["CHROMIUM"]) if os.environ.get("CHROMIUM") else \
        _find("chromium", "chromium-browser", "/usr/bin/chromium")


def _chromedriver() -> str | None:
    """$CHROMEDRIVER when set, else Debian's chromedriver (package chromium-driver)."""
    return _find(os.environ["CHROMEDRIVER"]) if os.environ.get("CHROMEDRIVER") else \
        _find("chromedriver", "/usr/bin/chromedriver")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium, its driver and Selenium are all present."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"Selenium is not installed ({INSTALL_HINT})"
    if not _chromium():
        return f"no Chromium found ({INSTALL_HINT})"
    if not _chromedriver():
        return f"no chromedriver found ({INSTALL_HINT})"
    return None


def skip_if_missing() -> None:
    """Skip the calling test, printing why, where Chromium, chromedriver or Selenium is missing."""
    reason = missing()
    if reason:
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)


def chromium(profile_dir: Path, width: int = 1000, height: int = 900):
    """A headless Chromium WebDriver with a fresh user-data-dir, ``width`` x ``height`` px; skips if missing."""
    skip_if_missing()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}", f"--window-size={width},{height}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=_chromedriver())
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    return driver
