"""The inbox in a real headless Chromium against a real daemon: revise with text and see the
revision, approve and see the run complete; a stage people review; edit and approve."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("selenium", reason="selenium is not installed (the dev extra has it)")

from browser import PHONE, By, button, element, live, wait, wait_text
from console_daemon import ConsoleDaemon, wait_for
from selenium.webdriver.remote.webdriver import WebDriver

Shoot = Callable[..., Path]


def escalation_of(daemon: ConsoleDaemon, run_id: str, other_than: str | None = None) -> str:
    """The run's open escalation (a new one, when ``other_than`` names the old)."""

    def found() -> str | None:
        run = daemon.run(run_id)
        escalation = run.get("escalation_id")
        if run["state"] == "escalated" and escalation and escalation != other_than:
            return str(escalation)
        return None

    escalation: str = wait_for(found)
    return escalation


def open_inbox(driver: WebDriver, daemon: ConsoleDaemon) -> None:
    driver.get(f"{daemon.url}/console/inbox")
    live(driver)


def test_revise_with_text_see_the_revision_then_approve_and_see_the_run_complete(
    driver: WebDriver, daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    run_id = daemon.submit("reviewed", {"topic": "lighthouses", "approve": False})
    first = escalation_of(daemon, run_id)
    open_inbox(driver, daemon)
    card = element(driver, f"#escalation-{first}")
    assert card.find_element(By.LINK_TEXT, run_id).text == run_id
    assert card.find_element(By.TAG_NAME, "h2").text == "revisions exhausted at review"
    shoot("inbox")
    shoot("inbox-phone", PHONE)
    card.find_element(By.ID, f"feedback-{first}").send_keys("Name the year it was lit.")
    button(card, "Revise").click()
    wait_text(driver, ".notice", f"Escalation {first} sent back with your feedback.")

    driver.get(f"{daemon.url}/console/runs/{run_id}")
    live(driver)
    wait_text(driver, "#timeline", "As asked: Name the year it was lit.")
    assert "Changes since revision 1" in element(driver, "#timeline").text
    added = driver.find_elements(By.CSS_SELECTOR, "#timeline .diff .add")
    assert "+ As asked: Name the year it was lit." in [a.text for a in added]

    second = escalation_of(daemon, run_id, other_than=first)
    open_inbox(driver, daemon)
    button(element(driver, f"#escalation-{second}"), "Approve").click()
    wait_text(driver, ".notice", f"Escalation {second} approved.")
    driver.get(f"{daemon.url}/console/runs/{run_id}")
    wait_text(driver, "#run-state", "completed")
    shoot("run")
    shoot("run-phone", PHONE)


def test_a_stage_people_review_is_approved_on_the_page(
    driver: WebDriver, daemon: ConsoleDaemon
) -> None:
    run_id = daemon.submit("approved", {"topic": "bees"})
    escalation = escalation_of(daemon, run_id)
    open_inbox(driver, daemon)
    card = element(driver, f"#escalation-{escalation}")
    assert card.find_element(By.TAG_NAME, "h2").text == "approval at approve"
    assert card.find_element(By.CSS_SELECTOR, ".summary-text").text == (
        "Check the note about bees."
    )
    button(card, "Approve").click()
    wait_text(driver, ".notice", f"Escalation {escalation} approved.")
    driver.get(f"{daemon.url}/console/runs/{run_id}")
    wait_text(driver, "#run-state", "completed")
    stages = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#timeline h3")]
    assert stages == ["#1 write accepted", "#2 approve accepted", "#3 publish accepted"]


def test_edit_and_approve_refuses_an_invalid_edit_then_accepts_a_valid_one(
    driver: WebDriver, daemon: ConsoleDaemon, shoot: Shoot
) -> None:
    run_id = daemon.submit("reviewed", {"topic": "tides", "approve": False})
    escalation = escalation_of(daemon, run_id)
    open_inbox(driver, daemon)
    button(element(driver, f"#escalation-{escalation}"), "Edit and approve").click()
    title = element(driver, "#field-title")
    assert title.get_attribute("value") == "tides"
    assert element(driver, "#field-keywords").get_attribute("value") == "note\ntides"
    shoot("edit")
    title.clear()
    title.send_keys("x" * 201)
    button(driver, "Edit and approve").click()
    wait_text(driver, "#edit-error", "output: not a valid Draft")
    assert element(driver, "#edit-error").text == (
        "output: not a valid Draft: Expected `str` of length <= 200 - at `$.title`"
    )
    assert daemon.run(run_id)["state"] == "escalated"

    title = element(driver, "#field-title")
    title.clear()
    title.send_keys("Tides, checked by a person")
    button(driver, "Edit and approve").click()
    wait_text(driver, ".notice", f"Escalation {escalation} approved with your edit.")
    daemon.wait_state(run_id, "completed")
    driver.get(f"{daemon.url}/console/runs/{run_id}")
    edited = wait(
        driver,
        lambda d: [
            h
            for h in d.find_elements(By.CSS_SELECTOR, "#timeline .handoff")
            if "Produced by\nperson" in h.text
        ],
    )
    assert "Tides, checked by a person" in edited[0].text
