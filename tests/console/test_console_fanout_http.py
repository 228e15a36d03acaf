"""A fan-out run's page over plain HTTP (no browser): one column per branch, a map branch's
items labelled ``stage[i]``, the join after them."""

from __future__ import annotations

import re

from console_daemon import ConsoleDaemon


def test_a_map_runs_page_has_a_column_per_item_then_the_join(fan_daemon: ConsoleDaemon) -> None:
    run_id = fan_daemon.submit("sections", {"topic": "bees", "findings": ["a", "b"]})
    fan_daemon.wait_state(run_id, "completed")
    page = fan_daemon.http.get(f"/console/runs/{run_id}").text
    assert re.findall(r'data-branch="([^"]+)"', page) == ["section[0]", "section[1]"]
    headings = re.findall(r"<h3>#\d+ (\S+) <span", page)
    assert headings[0] == "research" and headings[-1] == "edit"
    assert sorted(headings[1:-1]) == ["check[0]", "check[1]", "section[0]", "section[1]"]
    assert page.index('data-branch="section[1]"') < page.index('<h3 class="joined">joined</h3>')


def test_a_run_without_fan_out_has_no_columns(fan_daemon: ConsoleDaemon) -> None:
    run_id = fan_daemon.submit("sections", {"topic": "bees", "findings": []})
    fan_daemon.wait_state(run_id, "completed")
    page = fan_daemon.http.get(f"/console/runs/{run_id}").text
    assert "data-branch" not in page and 'class="joined"' not in page
    assert re.findall(r"<h3>#\d+ (\S+) <span", page) == ["research", "edit"]
