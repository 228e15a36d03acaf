"""The console over plain HTTP (no browser): headers, escaping, login, CSRF, refusals."""

from __future__ import annotations

import re

import httpx
from console_daemon import TOKEN, ConsoleDaemon

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found, page.text
    return found.group(1)


def browser(daemon: ConsoleDaemon) -> httpx.Client:
    """A client that keeps cookies and sends no Authorization header, as a browser would."""
    return httpx.Client(base_url=daemon.url, trust_env=False, timeout=10.0)


def escalated(daemon: ConsoleDaemon, topic: str) -> tuple[str, str]:
    run_id = daemon.submit("reviewed", {"topic": topic, "approve": False})
    run = daemon.wait_state(run_id, "escalated")
    return run_id, run["escalation_id"]


def test_pages_carry_a_strict_content_security_policy(daemon: ConsoleDaemon) -> None:
    with browser(daemon) as client:
        for path in ("/console/runs", "/console/inbox", "/console/health"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-security-policy"] == CSP
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert "<script>" not in page.text and "style=" not in page.text
        script = client.get("/console/static/console.js")
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert client.get("/console/static/missing.js").status_code == 404
        assert client.get("/console").headers["location"] == "/console/runs"


def test_agent_output_is_shown_as_text_never_as_markup(daemon: ConsoleDaemon) -> None:
    run_id = daemon.submit("note", {"topic": XSS})
    daemon.wait_state(run_id, "completed")
    with browser(daemon) as client:
        page = client.get(f"/console/runs/{run_id}").text
    escaped = (
        "&lt;script&gt;window.pwned=1&lt;/script&gt;&lt;img src=x "
        "onerror=&#34;window.pwned=2&#34;&gt;"
    )
    assert f'<div class="text">{escaped}</div>' in page
    assert "<script>window" not in page and "<img" not in page


def test_runs_are_listed_with_their_id_as_text_and_filtered(daemon: ConsoleDaemon) -> None:
    done = daemon.submit("note", {"topic": "listed"})
    daemon.wait_state(done, "completed")
    waiting, _ = escalated(daemon, "filtered")
    with browser(daemon) as client:
        everything = client.get("/console/runs").text
        only_escalated = client.get("/console/runs", params={"escalated": "1"}).text
        notes = client.get("/console/runs", params={"pipeline": "note"}).text
    assert f">{done}</a>" in everything and f">{waiting}</a>" in everything
    assert f">{waiting}</a>" in only_escalated and done not in only_escalated
    assert f">{done}</a>" in notes and waiting not in notes


def test_a_form_without_its_csrf_token_is_refused(daemon: ConsoleDaemon) -> None:
    _, escalation = escalated(daemon, "csrf")
    with browser(daemon) as client:
        client.get("/console/inbox")  # sets the CSRF cookie
        refused = client.post(
            f"/console/escalations/{escalation}/resolve",
            data={"action": "cancel", "csrf": "0" * 64},
        )
    assert refused.status_code == 403
    assert (
        "The form&#39;s CSRF token is missing or out of date: reload the page and try again."
        in refused.text
    )
    assert daemon.http.get(f"/v1/escalations/{escalation}").json()["state"] == "open"


def test_a_post_from_another_site_is_refused_before_the_console(daemon: ConsoleDaemon) -> None:
    with browser(daemon) as client:
        response = client.post(
            "/console/runs/run-000000000000000000000000/cancel",
            data={"csrf": "x"},
            headers={"Origin": "http://evil.example"},
        )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "foreign_origin"


def test_forms_are_for_the_console_only_the_api_still_takes_json_only(
    daemon: ConsoleDaemon,
) -> None:
    response = daemon.http.post("/v1/runs", data={"pipeline": "note"})
    assert response.status_code == 415


def test_a_second_resolution_is_refused_with_who_got_there_first(daemon: ConsoleDaemon) -> None:
    run_id, escalation = escalated(daemon, "twice")
    with browser(daemon) as client:
        csrf = csrf_of(client.get("/console/inbox"))
        first = client.post(
            f"/console/escalations/{escalation}/resolve",
            data={"action": "cancel", "csrf": csrf},
        )
        assert first.status_code == 303
        assert first.headers["location"] == (f"/console/inbox?done=cancel&escalation={escalation}")
        notice = client.get(first.headers["location"]).text
        assert f"Escalation {escalation} cancelled." in notice
        second = client.post(
            f"/console/escalations/{escalation}/resolve",
            data={"action": "approve", "csrf": csrf},
        )
    assert second.status_code == 409
    assert (
        f"Someone else got there first: escalation {escalation} is already resolved (cancel)."
        in second.text
    )
    assert daemon.run(run_id)["state"] == "cancelled"


def test_revise_needs_feedback(daemon: ConsoleDaemon) -> None:
    _, escalation = escalated(daemon, "feedback")
    with browser(daemon) as client:
        csrf = csrf_of(client.get("/console/inbox"))
        response = client.post(
            f"/console/escalations/{escalation}/resolve",
            data={"action": "revise", "feedback": "  ", "csrf": csrf},
        )
    assert response.status_code == 400
    assert "Revise needs feedback: say what to change." in response.text


def test_with_a_token_the_console_asks_for_it_once_and_keeps_it_in_a_strict_cookie(
    token_daemon: ConsoleDaemon,
) -> None:
    with browser(token_daemon) as client:
        first = client.get("/console/inbox?x=1")
        assert first.status_code == 303
        assert first.headers["location"] == "/console/login?next=/console/inbox%3Fx%3D1"
        form = client.get(first.headers["location"])
        csrf = csrf_of(form)
        assert 'name="next" value="/console/inbox?x=1"' in form.text
        wrong = client.post(
            "/console/login", data={"token": "x" * 30, "csrf": csrf, "next": "/console/inbox"}
        )
        assert wrong.status_code == 401
        assert "That token is not this daemon&#39;s." in wrong.text
        right = client.post(
            "/console/login",
            data={"token": TOKEN, "csrf": csrf, "next": "https://evil.example/"},
        )
        assert right.status_code == 303
        assert right.headers["location"] == "/console/runs"
        assert right.headers["set-cookie"] == (
            f"handoffs_token={TOKEN}; HttpOnly; Path=/; SameSite=strict"
        )
        assert client.get("/console/inbox").status_code == 200
        csrf = csrf_of(client.get("/console/runs"))
        out = client.post("/console/logout", data={"csrf": csrf})
        assert out.headers["location"] == "/console/login"
        assert client.get("/console/runs").status_code == 303
    with browser(token_daemon) as client:
        refused = client.post("/console/runs/run-000000000000000000000000/cancel")
        assert refused.status_code == 401
        assert "This daemon needs its token: log in and try again." in refused.text


def test_the_stream_is_in_the_api_document(daemon: ConsoleDaemon) -> None:
    document = daemon.http.get("/openapi.json").json()
    operation = document["paths"]["/v1/events/stream"]["get"]
    assert operation["operationId"] == "streamEvents"
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert not [path for path in document["paths"] if path.startswith("/console")]
