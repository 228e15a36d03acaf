"""The console's pages in a real headless Chromium against a real daemon: a live runs list,
the page behind a token, agent output rendered inert, health at a glance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")

from browser import PHONE, By, button, element, live, wait, wait_text
from console_daemon import TOKEN, ConsoleDaemon
from selenium.webdriver.remote.webdriver import WebDriver

Shoot = Callable[..., Path]
XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def test_a_new_run_and_its_state_change_appear_without_a_reload(
    driver: WebDriver, daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    driver.get(f"{daemon.url}/console/runs")
    live(driver)
    # A page that reloads loses this; a live update keeps it.
    driver.execute_script("window.notReloaded = true")
    run_id = daemon.submit("reviewed", {"topic": "live", "approve": False})
    row = f"#run-{run_id}"
    wait_text(driver, row, "escalated")
    cells = element(driver, row).find_elements(By.TAG_NAME, "td")
    assert [c.text for c in cells[:4]] == [run_id, "reviewed", "escalated", "review"]
    assert driver.execute_script("return window.notReloaded") is True
    assert element(driver, "#inbox-count").text != "0"
    shoot("runs")
    shoot("runs-phone", PHONE)


def test_the_filters_narrow_the_list(driver: WebDriver, daemon: ConsoleDaemon) -> None:
    note = daemon.submit("note", {"topic": "filters"})
    daemon.wait_state(note, "completed")
    driver.get(f"{daemon.url}/console/runs")
    element(driver, "input[name=escalated]").click()
    button(driver, "Filter").click()
    wait(driver, lambda d: "escalated=1" in d.current_url)
    states = {c.text for c in driver.find_elements(By.CSS_SELECTOR, "table.runs td .state")}
    assert states <= {"escalated"}
    assert not driver.find_elements(By.ID, f"run-{note}")


def test_agent_output_with_markup_is_shown_as_text_and_never_runs(
    driver: WebDriver, daemon: ConsoleDaemon
) -> None:
    run_id = daemon.submit("note", {"topic": XSS})
    daemon.wait_state(run_id, "completed")
    driver.get(f"{daemon.url}/console/runs/{run_id}")
    texts = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#timeline .output .text")]
    assert XSS in texts
    assert driver.execute_script("return window.pwned === undefined") is True
    assert not driver.find_elements(By.CSS_SELECTOR, "#timeline img")


def test_health_shows_roles_and_figures(
    driver: WebDriver, daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    daemon.wait_state(daemon.submit("note", {"topic": "health"}), "completed")
    driver.get(f"{daemon.url}/console/health")
    live(driver)
    roles = [
        r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.roles tbody td:first-child")
    ]
    assert roles == ["writer", "reviewer"]
    assert element(driver, ".status").text == "ok"
    assert int(element(driver, "#fig-per-minute").text) >= 1
    assert driver.find_elements(By.CSS_SELECTOR, "svg.chart rect")
    shoot("health")


def test_the_page_behind_a_token_asks_for_it_once(
    driver: WebDriver, token_daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    driver.get(f"{token_daemon.url}/console/inbox")
    wait(driver, lambda d: d.current_url.endswith("/console/login?next=/console/inbox"))
    shoot("login")
    element(driver, "#token").send_keys("not-the-token-at-all")
    button(driver, "Log in").click()
    wait_text(driver, ".error", "That token is not this daemon's.")
    element(driver, "#token").send_keys(TOKEN)
    button(driver, "Log in").click()
    wait(driver, lambda d: d.current_url == f"{token_daemon.url}/console/inbox")
    live(driver)  # the event stream takes the cookie too
    cookie = driver.get_cookie("handoffs_token")
    assert cookie is not None
    assert (cookie["value"], cookie["httpOnly"], cookie["sameSite"]) == (TOKEN, True, "Strict")
    assert driver.execute_script("return document.cookie") == ""
    driver.get(f"{token_daemon.url}/console/runs")
    assert element(driver, "h1").text == "Runs"
    button(driver, "Log out").click()
    wait(driver, lambda d: "/console/login" in d.current_url)
    assert driver.get_cookie("handoffs_token") is None
