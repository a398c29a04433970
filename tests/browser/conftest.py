"""Headless Debian Chromium driven by Selenium (issue 18 item 5).

The browser and its driver are the system's (``apt-get install chromium chromium-driver``,
which ``scripts/test.sh`` and ``.ci/run`` do): Selenium is pointed at /usr/bin/chromedriver
so it never downloads a browser. Each test gets a fresh profile directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMEDRIVER = os.environ.get("KBRIDGE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("KBRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium at a laptop's window size (1366x900)."""
    if not (shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM)):
        pytest.fail(
            f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver "
            "(scripts/test.sh installs them)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
