"""The console's pages (GET): runs, a run's timeline, the inbox, health. Each page marks its
live part; ``console.js`` fetches the page again when the journal moves and swaps that part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, get_args

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from litestar.response import Redirect

from handoffs.console.figures import health_figures
from handoffs.console.views import decode_payload, sections, timeline
from handoffs.daemon.wire import ID_WHOLE
from handoffs.messages import Escalation, RunState

if TYPE_CHECKING:
    from handoffs.console.app import Console

__all__ = ["PAGE_SIZE", "build_pages"]

#: Runs per page of the list.
PAGE_SIZE: Final = 25
RUN_STATES: Final = get_args(RunState)
#: What the inbox says after an action (only these words are ever shown).
NOTICES: Final = {
    "approve": "approved",
    "revise": "sent back with your feedback",
    "cancel": "cancelled",
    "edit": "approved with your edit",
}

IdPath = Annotated[str, Parameter(pattern=ID_WHOLE)]
Query = Annotated[str | None, Parameter(max_length=200)]


def build_pages(console: Console) -> list[HTTPRouteHandler]:
    """The GET handlers of the console."""
    store = console.store
    pipelines = sorted(console.runtime.config.config.pipelines)

    @get("/", include_in_schema=False, sync_to_thread=False)
    def home() -> Redirect:
        return Redirect("/console/runs", status_code=303)

    @get("/runs", sync_to_thread=True, include_in_schema=False)
    def runs(
        request: Request[Any, Any, Any],
        pipeline: Query = None,
        run_state: Annotated[str | None, Parameter(query="state", max_length=200)] = None,
        escalated: Query = None,
        cursor: Annotated[str | None, Parameter(pattern=ID_WHOLE)] = None,
    ) -> Response[str]:
        chosen_pipeline = pipeline if pipeline in pipelines else None
        listed = run_state if run_state in RUN_STATES else None
        chosen_state = "escalated" if escalated else listed
        page = store.runs(
            state=chosen_state, pipeline=chosen_pipeline, limit=PAGE_SIZE, cursor=cursor
        )
        filters = {
            k: v
            for k, v in (
                ("pipeline", chosen_pipeline),
                ("state", chosen_state if not escalated else None),
                ("escalated", "1" if escalated else None),
            )
            if v
        }
        return console.page(
            request,
            "runs.html",
            title="Runs",
            runs=page.items,
            next_cursor=page.cursor,
            pipelines=pipelines,
            states=RUN_STATES,
            pipeline=chosen_pipeline or "",
            state=chosen_state or "",
            escalated=bool(escalated),
            filters=filters,
            first_page=cursor is None,
        )

    @get("/runs/{run_id:str}", sync_to_thread=True, include_in_schema=False)
    def run(request: Request[Any, Any, Any], run_id: IdPath) -> Response[str]:
        found = console.runtime.get_run(run_id)
        if found is None:
            return console.message(request, 404, "No such run", f"There is no run {run_id}.")
        escalation = (
            store.get_escalation(found.escalation_id)
            if found.escalation_id and found.state == "escalated"
            else None
        )
        return console.page(
            request,
            "run.html",
            title=f"Run {run_id}",
            run=found,
            sections=sections(
                timeline(console.runtime.handoffs(run_id), console.runtime.config.pipelines)
            ),
            escalation=escalation,
        )

    @get("/inbox", sync_to_thread=True, include_in_schema=False)
    def inbox(
        request: Request[Any, Any, Any],
        done: Query = None,
        escalation: Annotated[str | None, Parameter(pattern=ID_WHOLE)] = None,
    ) -> Response[str]:
        items: list[Escalation] = store.escalations(state="open", limit=100).items
        notice = (
            f"Escalation {escalation} {NOTICES[done]}." if done in NOTICES and escalation else None
        )
        return console.page(
            request,
            "inbox.html",
            title="Inbox",
            items=[_inbox_item(console, e) for e in items],
            notice=notice,
            can_edit=console_can_edit(console),
        )

    @get("/health", sync_to_thread=True, include_in_schema=False)
    def health(request: Request[Any, Any, Any]) -> Response[str]:
        return console.page(
            request, "health.html", title="Health", **health_figures(console.runtime)
        )

    return [home, runs, run, inbox, health]


def console_can_edit(console: Console) -> bool:
    """Whether this runtime takes an edited output with an approval."""
    import inspect

    return "output" in inspect.signature(console.runtime.resolve).parameters


def _inbox_item(console: Console, escalation: Escalation) -> dict[str, Any]:
    """An open escalation with its last output decoded and its history's handoffs."""
    store = console.store
    last = store.get_artifact(escalation.artifact_id) if escalation.artifact_id else None
    history = [h for h in (store.get_artifact(i) for i in escalation.history[-20:]) if h]
    stage = console.runtime.config.pipelines.stages.get((escalation.pipeline, escalation.stage))
    # A map branch's escalation: the branch of its item (``section[2]``).
    branch = None
    if stage is not None and stage.branch is not None and escalation.item is not None:
        branch = f"{stage.branch}[{escalation.item}]"
    return {
        "escalation": escalation,
        "branch": branch,
        "last": last,
        "payload": decode_payload(last) if last is not None else None,
        "history": history,
    }
