"""A run's branches in a real headless Chromium against a real daemon running a fan-out
config (``fanout.toml``): the branches side by side at desktop width and stacked on a phone,
a map branch's items labelled ``stage[i]``, the join after them; an escalation in a map
branch shows its item in the inbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")

from browser import PHONE, By, button, element, live, wait_text
from console_daemon import ConsoleDaemon, wait_for
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

Shoot = Callable[..., Path]


def columns(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#timeline .branches .branch")


def headings(scope: WebElement) -> list[str]:
    """The handoffs' headings without their number (branches commit in either order)."""
    found = scope.find_elements(By.CSS_SELECTOR, ".handoff h3")
    return [h.text.partition(" ")[2] for h in found]


def stretches(driver: WebDriver) -> list[list[str]]:
    """The timeline outside the branches: each list of handoffs, ``joined`` first after them."""
    found = []
    for part in driver.find_elements(By.CSS_SELECTOR, "#timeline > ol.handoffs"):
        joined = part.find_elements(By.XPATH, "preceding-sibling::*[1][self::h3]")
        found.append([h.text for h in joined] + headings(part))
    return found


def scroll_to_branches(driver: WebDriver) -> None:
    """The screenshots show the branches (and the research above them), not the header."""
    driver.execute_script(
        "document.querySelector('#timeline .branches').scrollIntoView({block: 'start'});"
        "window.scrollBy(0, -60);"
    )


def test_the_branches_are_side_by_side_then_the_join(
    driver: WebDriver, fan_daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    run_id = fan_daemon.submit("launch", {"topic": "bees", "reject": ["review"]})
    fan_daemon.wait_state(run_id, "completed")
    driver.get(f"{fan_daemon.url}/console/runs/{run_id}")
    wait_text(driver, "#run-state", "completed")
    faq, write = columns(driver)
    assert faq.get_attribute("data-branch") == "faq"
    assert faq.find_element(By.CSS_SELECTOR, ".branch-name").text == "branch faq"
    assert headings(faq) == ["faq accepted"]
    assert headings(write) == [
        "write accepted",
        "review rejected",
        "write accepted",
        "review accepted",
    ]
    assert "Changes since revision 0" in write.text
    assert stretches(driver) == [["research accepted"], ["joined", "publish accepted"]]
    # Desktop: one row of columns; a phone: one column under the other.
    assert faq.location["y"] == write.location["y"] and faq.location["x"] < write.location["x"]
    scroll_to_branches(driver)
    shoot("fanout")
    driver.set_window_size(*PHONE)
    try:
        faq, write = columns(driver)
        assert faq.location["x"] == write.location["x"] and faq.location["y"] < write.location["y"]
    finally:
        driver.set_window_size(1280, 800)
    scroll_to_branches(driver)
    shoot("fanout-phone", PHONE)


def test_a_map_branch_has_a_column_per_item_labelled_with_it(
    driver: WebDriver, fan_daemon: ConsoleDaemon
) -> None:
    findings = ["pollen", "hives", "swarms"]
    run_id = fan_daemon.submit("sections", {"topic": "bees", "findings": findings})
    fan_daemon.wait_state(run_id, "completed")
    driver.get(f"{fan_daemon.url}/console/runs/{run_id}")
    wait_text(driver, "#run-state", "completed")
    found = columns(driver)
    assert [c.get_attribute("data-branch") for c in found] == [
        "section[0]",
        "section[1]",
        "section[2]",
    ]
    assert [headings(c) for c in found] == [
        [f"section[{i}] accepted", f"check[{i}] accepted"] for i in range(3)
    ]
    assert "hives" in found[1].find_element(By.CSS_SELECTOR, ".output").text
    assert stretches(driver) == [["research accepted"], ["joined", "edit accepted"]]


def test_an_escalation_in_a_map_branch_shows_its_item_in_the_inbox(
    driver: WebDriver, fan_daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    run_id = fan_daemon.submit("sections", {"topic": "wasps", "findings": ["a", "b"], "stuck": 1})

    def escalated() -> str | None:
        run = fan_daemon.run(run_id)
        found = run.get("escalation_id")
        return str(found) if run["state"] == "escalated" and found else None

    escalation: str = wait_for(escalated)
    driver.get(f"{fan_daemon.url}/console/inbox")
    live(driver)
    card = element(driver, f"#escalation-{escalation}")
    assert card.find_element(By.TAG_NAME, "h2").text == "revisions exhausted at check[1]"
    assert card.find_element(By.CSS_SELECTOR, "dd.item").text == "1 (branch section[1])"
    history = [li.text for li in card.find_elements(By.CSS_SELECTOR, ".history li")]
    assert "check[1] revision 1: rejected" in history
    shoot("inbox-item")
    button(card, "Approve").click()
    wait_text(driver, ".notice", f"Escalation {escalation} approved.")
    fan_daemon.wait_state(run_id, "completed")
    driver.get(f"{fan_daemon.url}/console/runs/{run_id}")
    wait_text(driver, "#run-state", "completed")
    assert headings(columns(driver)[1])[-1] == "check[1] rejected"
    assert stretches(driver) == [["research accepted"], ["joined", "edit accepted"]]
