"""A headless Chromium driven by Selenium, for the console's end-to-end tests.

The tests skip, saying why, when Selenium (``pytest.importorskip`` in each module),
``chromium`` or ``chromedriver`` is missing (``.ci/run`` installs Debian's ``chromium`` and
``chromium-driver``). Waits are conditions
(``WebDriverWait``), never sleeps. Screenshots go to ``$HANDOFFS_CONSOLE_SCREENSHOTS`` when
set (the docs' images are made that way), else under the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 20.0
DESKTOP = (1280, 800)
PHONE = (390, 844)
_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _found() -> tuple[str, str] | str:
    """``(browser, driver)`` paths, or why they cannot be used."""
    browser = next((p for p in map(shutil.which, _BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return "no chromium and chromedriver found (apt-get install chromium chromium-driver)"
    return browser, driver


def start_driver() -> Iterator[WebDriver]:
    """A headless Chromium at 1280x800 (the ``driver`` fixture), closed at the end."""
    found = _found()
    if isinstance(found, str):
        pytest.skip(found)
    browser, chromedriver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    try:
        instance = webdriver.Chrome(options=options, service=Service(chromedriver))
    except WebDriverException as exc:
        pytest.skip(f"chromium did not start: {exc.msg}")
    try:
        yield instance
    finally:
        instance.quit()


def screenshots(driver: WebDriver, tmp_path: Path) -> Callable[..., Path]:
    """Save a screenshot of the page at a window size: ``shoot(name, (width, height))``."""
    folder = Path(os.environ.get("HANDOFFS_CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str, size: tuple[int, int] = DESKTOP) -> Path:
        driver.set_window_size(*size)
        path = folder / f"console-{name}.png"
        driver.save_screenshot(str(path))
        driver.set_window_size(*DESKTOP)
        return path

    return take


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    """Wait until ``condition(driver)`` is truthy; its value."""
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def element(driver: WebDriver, css: str) -> WebElement:
    """The element ``css`` selects, once it exists."""
    found: WebElement = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css))
    return found


def text_of(driver: WebDriver, css: str) -> str:
    return element(driver, css).text


def wait_text(driver: WebDriver, css: str, text: str) -> None:
    """Wait until the element ``css`` selects shows ``text`` (in part)."""

    def shown(d: WebDriver) -> bool:
        found = d.find_elements(By.CSS_SELECTOR, css)
        return bool(found) and text in found[0].text

    wait(driver, shown)


def button(scope: WebDriver | WebElement, name: str) -> WebElement:
    """The button (or link styled as one) whose visible name is ``name``."""
    xpath = f".//button[normalize-space()='{name}'] | .//a[normalize-space()='{name}']"
    return scope.find_element(By.XPATH, xpath)


def live(driver: WebDriver) -> None:
    """Wait until the page follows the event stream."""
    wait(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")


__all__ = [
    "DESKTOP",
    "PHONE",
    "By",
    "button",
    "element",
    "live",
    "screenshots",
    "start_driver",
    "text_of",
    "wait",
    "wait_text",
]
