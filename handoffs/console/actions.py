"""The console's forms: log in and out, resolve an escalation (Approve, Revise, Cancel, Edit
and approve), cancel a run. Each POST checks its CSRF field, then goes through the same
Runtime calls as the HTTP API; a success redirects (303), so a reload does not post again.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from litestar.response import Redirect

from handoffs.actors import (
    EscalationNotFound,
    EscalationResolved,
    InvalidInput,
    RunFinished,
    RunNotFound,
)
from handoffs.console.forms import FormProblem, form_fields, read_form
from handoffs.console.security import safe_next, token_cookie
from handoffs.console.views import decode_payload
from handoffs.daemon.wire import ID_WHOLE
from handoffs.messages import CallerError, Escalation

if TYPE_CHECKING:
    from handoffs.console.app import Console

__all__ = ["build_actions"]

IdPath = Annotated[str, Parameter(pattern=ID_WHOLE)]
_MAX_FIELDS = 200


def _form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(
        body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=_MAX_FIELDS
    )


def _one(form: dict[str, list[str]], name: str) -> str:
    return form.get(name, [""])[0]


def build_actions(console: Console) -> list[HTTPRouteHandler]:
    """The POST handlers of the console (and the pages their forms live on)."""
    runtime = console.runtime
    store = console.store

    def checked(request: Request[Any, Any, Any], body: bytes) -> dict[str, list[str]]:
        form = _form(body)
        console.csrf.check(request, _one(form, "csrf"))
        return form

    @get("/login", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
    def login_page(
        request: Request[Any, Any, Any], next: Annotated[str | None, Parameter()] = None
    ) -> Response[Any]:
        if console.token is None:
            return Redirect("/console/runs", status_code=303)
        return console.page(request, "login.html", title="Log in", next=safe_next(next))

    @post(
        "/login",
        opt={"public": True},
        include_in_schema=False,
        status_code=303,
        sync_to_thread=False,
    )
    def login(request: Request[Any, Any, Any], body: bytes) -> Response[Any]:
        form = checked(request, body)
        given = _one(form, "token").strip()
        token = console.token
        if token is None:
            return Redirect("/console/runs", status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return console.page(
                request,
                "login.html",
                status=401,
                title="Log in",
                next=safe_next(_one(form, "next")),
                error="That token is not this daemon's.",
            )
        return Redirect(
            safe_next(_one(form, "next")), status_code=303, cookies=[token_cookie(token)]
        )

    @post("/logout", include_in_schema=False, status_code=303, sync_to_thread=False)
    def logout(request: Request[Any, Any, Any], body: bytes) -> Response[Any]:
        checked(request, body)
        return Redirect("/console/login", status_code=303, cookies=[token_cookie(None)])

    @post(
        "/escalations/{escalation_id:str}/resolve",
        sync_to_thread=True,
        include_in_schema=False,
        status_code=303,
    )
    def resolve(
        request: Request[Any, Any, Any], escalation_id: IdPath, body: bytes
    ) -> Response[Any]:
        form = checked(request, body)
        action = _one(form, "action")
        feedback = _one(form, "feedback").strip() or None
        if action not in ("approve", "revise", "cancel"):
            return console.message(
                request, 400, "Unknown action", "Choose Approve, Revise or Cancel."
            )
        if action == "revise" and feedback is None:
            return console.message(
                request, 400, "Feedback needed", "Revise needs feedback: say what to change."
            )
        try:
            runtime.resolve(escalation_id, action, feedback)  # type: ignore[arg-type]
        except (EscalationResolved, EscalationNotFound) as exc:
            return _refused(console, request, exc)
        return Redirect(f"/console/inbox?done={action}&escalation={escalation_id}", status_code=303)

    def edit_page(
        request: Request[Any, Any, Any],
        escalation: Escalation,
        values: Any,
        status: int = 200,
        error: str | None = None,
    ) -> Response[str]:
        stage, contract_name = _edited_stage(console, escalation)
        contract = runtime.config.registry.get(contract_name)
        return console.page(
            request,
            "edit.html",
            status=status,
            title=f"Edit and approve {escalation.id}",
            escalation=escalation,
            stage=stage,
            contract=contract_name,
            fields=form_fields(contract, values),
            error=error,
        )

    @get("/escalations/{escalation_id:str}/edit", sync_to_thread=True, include_in_schema=False)
    def edit(request: Request[Any, Any, Any], escalation_id: IdPath) -> Response[str]:
        escalation = store.get_escalation(escalation_id)
        if escalation is None:
            return _refused(console, request, EscalationNotFound(escalation_id))
        if escalation.state != "open":
            action = escalation.resolution.action if escalation.resolution else "resolved"
            return _refused(console, request, EscalationResolved(escalation_id, action))
        return edit_page(request, escalation, _current_output(console, escalation))

    @post(
        "/escalations/{escalation_id:str}/edit",
        sync_to_thread=True,
        include_in_schema=False,
        status_code=303,
    )
    def submit_edit(
        request: Request[Any, Any, Any], escalation_id: IdPath, body: bytes
    ) -> Response[Any]:
        form = checked(request, body)
        escalation = store.get_escalation(escalation_id)
        if escalation is None:
            return _refused(console, request, EscalationNotFound(escalation_id))
        _, contract_name = _edited_stage(console, escalation)
        fields = form_fields(runtime.config.registry.get(contract_name), None)
        try:
            output = read_form(fields, form)
            runtime.resolve(
                escalation_id, "approve", _one(form, "feedback").strip() or None, output=output
            )
        except (FormProblem, InvalidInput) as exc:
            shown = {f.name: _one(form, f.name) for f in fields}
            values = {**shown, **{f.name: f.name in form for f in fields if f.control == "bool"}}
            return edit_page(request, escalation, values, 422, str(exc))
        except (EscalationResolved, EscalationNotFound) as exc:
            return _refused(console, request, exc)
        return Redirect(f"/console/inbox?done=edit&escalation={escalation_id}", status_code=303)

    @post("/runs/{run_id:str}/cancel", sync_to_thread=True, include_in_schema=False)
    def cancel_run(request: Request[Any, Any, Any], run_id: IdPath, body: bytes) -> Response[Any]:
        checked(request, body)
        try:
            runtime.cancel(run_id, "cancelled from the console")
        except (RunNotFound, RunFinished) as exc:
            return _refused(console, request, exc)
        return Redirect(f"/console/runs/{run_id}", status_code=303)

    return [login_page, login, logout, resolve, edit, submit_edit, cancel_run]


def _edited_stage(console: Console, escalation: Escalation) -> tuple[str, str]:
    """The stage an edit replaces the output of, and its contract (as the runtime checks)."""
    stage = escalation.retry_stage or escalation.stage
    pipeline = console.runtime.config.config.pipelines[escalation.pipeline]
    return stage, pipeline.stages[stage].output


def _current_output(console: Console, escalation: Escalation) -> Any:
    """The output being corrected: the stage's latest, else the escalation's last output."""
    stage, _ = _edited_stage(console, escalation)
    run = console.store.get_run(escalation.run_id)
    artifact_id = (run.latest.get(stage) if run else None) or escalation.artifact_id
    artifact = console.store.get_artifact(artifact_id) if artifact_id else None
    if artifact is None or artifact.stage != stage:
        return None
    return decode_payload(artifact)


def _refused(console: Console, request: Request[Any, Any, Any], exc: CallerError) -> Response[str]:
    """The page for a decision that cannot be applied (someone else got there first...)."""
    match exc:
        case EscalationResolved():
            return console.message(
                request, 409, "Already resolved", f"Someone else got there first: {exc}."
            )
        case RunFinished():
            return console.message(request, 409, "Run already ended", f"{exc}.")
        case _:
            return console.message(request, 404, "Not found", f"{exc}.")
