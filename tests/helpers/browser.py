"""Debian's chromium driven by Selenium through Debian's chromium-driver (their versions must agree), headless, for
the console's tests; skips with the reason where either is missing."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

LAPTOP = (1280, 900)
PHONE = (390, 844)


def _version(command: str) -> str:
    found = re.search(r"(\d+)\.\d+\.\d+\.\d+", subprocess.run([command, "--version"], capture_output=True, text=True,
                                                               timeout=30).stdout)
    return found.group(0) if found else ""


def chromium_or_skip() -> tuple[str, str]:
    """(chromium, chromedriver) paths, their major versions checked to agree; skip where absent."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    if browser is None or driver is None:
        pytest.skip("the console's browser tests need Debian's chromium and chromium-driver (.ci/run installs them)")
    pytest.importorskip("selenium", reason="the console's browser tests need selenium (the test extra)")
    browser_version, driver_version = _version(browser), _version(driver)
    if browser_version.split(".")[0] != driver_version.split(".")[0]:
        pytest.skip(f"chromium {browser_version} and chromedriver {driver_version} do not match")
    return browser, driver


@contextmanager
def chromium(size: tuple[int, int] = LAPTOP) -> Iterator:
    """A headless chromium WebDriver at a window size (laptop 1280x900 or phone 390x844), quit at the end."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_or_skip()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={size[0]},{size[1]}", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    at_size(driver, size)
    try:
        yield driver
    finally:
        driver.quit()


def at_size(driver, size: tuple[int, int]) -> None:
    """The page's viewport at exactly this size (a headless window keeps a minimum width of about 500 px of its own,
    wider than a phone's 390)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": size[0], "height": size[1],
                                                                  "deviceScaleFactor": 1, "mobile": size == PHONE})


def not_blank(png: bytes) -> bool:
    """Whether a screenshot shows something: more than a handful of distinct colours over its pixels."""
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    return colours is None or len(colours) > 8
