"""A real browser for the web view's tests: Debian's chromium, headless, driven by
selenium through the system's chromedriver (the same version as the browser, so
nothing is downloaded), with the browser's console kept for the test to read."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Where screenshots land: a folder CI keeps (ignored by git).
SCREENSHOTS = Path(
    os.environ.get("SCAD_SCREENSHOTS", Path(__file__).parents[2] / "test-artifacts" / "screenshots")
)


class Browser:
    """One headless chromium, and every console line it printed so far."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.console: list[dict[str, Any]] = []

    def keep_console(self) -> list[dict[str, Any]]:
        """The console lines since the last call (the driver hands each out once)."""
        lines = self.driver.get_log("browser")
        self.console += lines
        return lines

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def screenshot(self, name: str, width: int) -> Path:
        """The whole page at ``width`` pixels, as ``SCREENSHOTS/name-width.png``."""
        self.driver.set_window_size(width, 900)
        height = self.js("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(int(height), 600), 8000))
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{width}.png"
        assert self.driver.save_screenshot(str(path)), path
        return path


@pytest.fixture
def browser() -> Iterator[Browser]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        if in_ci():
            pytest.fail(f"CI needs {', '.join(missing)} (run ./setup.sh)")
        pytest.skip(f"NO BROWSER, browser tests skipped: missing {', '.join(missing)}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.add_argument("--headless=new")
    options.add_argument("--window-size=1400,900")
    if os.geteuid() == 0:
        # Chromium will not start its sandbox as root; the pages are the test's own.
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
