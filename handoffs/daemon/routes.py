"""The HTTP API's route handlers over one :class:`~handoffs.runtime.Runtime`.

Handlers that touch the runtime or the store are synchronous and run in the server's worker
threads (``sync_to_thread``): runtime calls block briefly (a submit waits for its commit).
Request bodies arrive as raw bytes and are decoded here, strictly (``handoffs.daemon.decode``);
errors are raised as exceptions and turned into JSON error bodies by ``handoffs.daemon.app``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import Parameter
from prometheus_client import generate_latest

from handoffs.daemon.decode import check_input, decode_body
from handoffs.daemon.errors import ApiError
from handoffs.daemon.host import POSITION_PATTERN, Host, checked, tail_of
from handoffs.daemon.wire import (
    ID_WHOLE,
    NAME_WHOLE,
    ArtifactList,
    CancelRequest,
    EscalationList,
    EventList,
    HandoffView,
    Health,
    ResolveRequest,
    RunDetail,
    RunList,
    SubmitRequest,
    SubmitResponse,
    handoff_view,
    run_detail,
    run_summary,
)
from handoffs.messages import Escalation, RunState

__all__ = ["OPTIONAL_BODIES", "PARAMETER_NAMES", "REQUEST_BODIES", "build_routes"]

#: The request body type of each route that takes one, for the OpenAPI document.
REQUEST_BODIES: Final[dict[tuple[str, str], type[msgspec.Struct]]] = {
    ("/v1/runs", "post"): SubmitRequest,
    ("/v1/runs/{run_id}/cancel", "post"): CancelRequest,
    ("/v1/escalations/{escalation_id}/resolve", "post"): ResolveRequest,
}
#: The routes of ``REQUEST_BODIES`` that may be sent without a body.
OPTIONAL_BODIES: Final = frozenset({("/v1/runs/{run_id}/cancel", "post")})
#: Python parameter names that differ from what the client sent (for error ``field``s).
PARAMETER_NAMES: Final = {
    "run_state": "state",
    "escalation_state": "state",
    "idempotency_key": "Idempotency-Key",
}
#: The pattern of ``handoffs.messages.IdempotencyKey`` (printable ASCII, no spaces), whole.
_IDEMPOTENCY_PATTERN: Final = r"^[\x21-\x7e]{1,200}$(?!\n)"
#: How long ``GET /v1/events?wait=`` may hold a request open.
MAX_WAIT_SECONDS: Final = 30.0
_POLL_SECONDS: Final = 0.05
#: The classic text format, which every Prometheus server and promtool read (the response
#: adds ``charset=utf-8``).
METRICS_MEDIA_TYPE: Final = "text/plain; version=0.0.4"

IdParam = Annotated[str, Parameter(pattern=ID_WHOLE)]
NameQuery = Annotated[str | None, Parameter(pattern=NAME_WHOLE)]
CursorQuery = Annotated[
    str | None,
    Parameter(pattern=ID_WHOLE, description="The `cursor` of the previous page."),
]
LimitQuery = Annotated[int, Parameter(ge=1, le=1000, description="Page size.")]
PayloadQuery = Annotated[
    bool, Parameter(description="Include each handoff's payload (the contract instance).")
]

_submit_decoder = msgspec.json.Decoder(SubmitRequest)
_resolve_decoder = msgspec.json.Decoder(ResolveRequest)
_cancel_decoder = msgspec.json.Decoder(CancelRequest)


def build_routes(runtime: Host, stopping: threading.Event) -> list[HTTPRouteHandler]:
    """Every route of the API, bound to ``runtime``. ``stopping`` ends long polls early."""
    store = runtime.store
    tail = tail_of(runtime)

    @post(
        "/v1/runs",
        sync_to_thread=True,
        operation_id="submitRun",
        summary="Start a run",
        description="201 with a new run; 200 with the existing run when the same "
        "Idempotency-Key comes with the same body; 409 when it comes with another body.",
        tags=["runs"],
        status_code=201,
    )
    def submit_run(
        body: bytes,
        idempotency_key: Annotated[
            str | None,
            Parameter(
                header="Idempotency-Key",
                pattern=_IDEMPOTENCY_PATTERN,
                description="Retry-safe submission: the same key and body give the same run.",
            ),
        ] = None,
    ) -> Response[SubmitResponse]:
        request = decode_body(body, _submit_decoder)
        check_input(request.input)
        run_id, created = runtime.submit(request.pipeline, request.input, idempotency_key)
        run = runtime.get_run(run_id)
        state: RunState = run.state if run is not None else "running"
        return Response(
            SubmitResponse(run_id=run_id, state=state),
            status_code=201 if created else 200,
            headers={"Location": f"/v1/runs/{run_id}"},
        )

    @get(
        "/v1/runs/{run_id:str}",
        sync_to_thread=True,
        operation_id="getRun",
        summary="A run and its handoffs, in order",
        tags=["runs"],
    )
    def get_run(run_id: IdParam, payload: PayloadQuery = False) -> RunDetail:
        run = runtime.get_run(run_id)
        if run is None:
            raise ApiError(404, "run_not_found", f"no run {run_id}", "run_id")
        records = [
            handoff_view(h, payload=payload, pipelines=runtime.config.pipelines)
            for h in runtime.handoffs(run_id)
        ]
        return run_detail(run, records)

    @post(
        "/v1/runs/{run_id:str}/cancel",
        sync_to_thread=True,
        operation_id="cancelRun",
        summary="Cancel a running or escalated run",
        description="The body is optional. 200 with the cancelled run; 404 for an unknown "
        "run; 409 when it already ended (the error's state says how); 507 when the store "
        "cannot take writes now (nothing was done; retry later).",
        tags=["runs"],
        status_code=200,
    )
    def cancel_run(run_id: IdParam, body: bytes) -> RunDetail:
        request = decode_body(body, _cancel_decoder) if body.strip() else CancelRequest()
        run = runtime.cancel(run_id, request.reason or "cancelled")
        records = [
            handoff_view(h, payload=False, pipelines=runtime.config.pipelines)
            for h in runtime.handoffs(run_id)
        ]
        return run_detail(run, records)

    @get(
        "/v1/runs",
        sync_to_thread=True,
        operation_id="listRuns",
        summary="Runs, oldest first",
        tags=["runs"],
    )
    def list_runs(
        run_state: Annotated[RunState | None, Parameter(query="state")] = None,
        pipeline: NameQuery = None,
        limit: LimitQuery = 50,
        cursor: CursorQuery = None,
    ) -> RunList:
        page = store.runs(state=run_state, pipeline=pipeline, limit=limit, cursor=cursor)
        return RunList(items=[run_summary(r) for r in page.items], cursor=page.cursor)

    @get(
        "/v1/escalations",
        sync_to_thread=True,
        operation_id="listEscalations",
        summary="Escalations waiting for (or resolved by) a person",
        tags=["escalations"],
    )
    def list_escalations(
        escalation_state: Annotated[
            Literal["open", "resolved", "all"], Parameter(query="state")
        ] = "open",
        limit: LimitQuery = 50,
        cursor: CursorQuery = None,
    ) -> EscalationList:
        state = None if escalation_state == "all" else escalation_state
        page = store.escalations(state=state, limit=limit, cursor=cursor)
        return EscalationList(items=page.items, cursor=page.cursor)

    @get(
        "/v1/escalations/{escalation_id:str}",
        sync_to_thread=True,
        operation_id="getEscalation",
        summary="One escalation",
        tags=["escalations"],
    )
    def get_escalation(escalation_id: IdParam) -> Escalation:
        escalation = store.get_escalation(escalation_id)
        if escalation is None:
            raise ApiError(
                404, "escalation_not_found", f"no escalation {escalation_id}", "escalation_id"
            )
        return escalation

    @post(
        "/v1/escalations/{escalation_id:str}/resolve",
        sync_to_thread=True,
        operation_id="resolveEscalation",
        summary="Approve, send back with feedback, or cancel",
        description="404 for an unknown escalation; 409 when it is already resolved.",
        tags=["escalations"],
        status_code=200,
    )
    def resolve_escalation(escalation_id: IdParam, body: bytes) -> Escalation:
        request = decode_body(body, _resolve_decoder)
        return runtime.resolve(
            escalation_id, request.action, request.feedback, output=request.output
        )

    @get(
        "/v1/artifacts/{artifact_id:str}",
        sync_to_thread=True,
        operation_id="getArtifact",
        summary="One handoff record with its payload",
        tags=["artifacts"],
    )
    def get_artifact(artifact_id: IdParam) -> HandoffView:
        handoff = store.get_artifact(artifact_id)
        if handoff is None:
            raise ApiError(404, "artifact_not_found", f"no artifact {artifact_id}", "artifact_id")
        return handoff_view(handoff, payload=True, pipelines=runtime.config.pipelines)

    @get(
        "/v1/artifacts",
        sync_to_thread=True,
        operation_id="listArtifacts",
        summary="Handoff records by run, pipeline (and stage), kind or tag",
        description="Exactly one selector: run_id, pipeline (optionally with stage), kind, tag.",
        tags=["artifacts"],
    )
    def list_artifacts(
        run_id: Annotated[str | None, Parameter(pattern=ID_WHOLE)] = None,
        pipeline: NameQuery = None,
        stage: NameQuery = None,
        kind: NameQuery = None,
        tag: NameQuery = None,
        limit: LimitQuery = 50,
        cursor: CursorQuery = None,
        payload: PayloadQuery = False,
    ) -> ArtifactList:
        if stage is not None and pipeline is None:
            raise ApiError(400, "invalid_selector", "stage needs pipeline", "stage")
        given = [
            n
            for n, v in (("run_id", run_id), ("pipeline", pipeline), ("kind", kind), ("tag", tag))
            if v is not None
        ]
        if len(given) != 1:
            raise ApiError(
                400,
                "invalid_selector",
                "select artifacts by exactly one of run_id, pipeline (and stage), kind, tag"
                + (f"; got {', '.join(given)}" if given else ""),
                given[1] if len(given) > 1 else None,
            )
        page = store.artifacts(
            run_id=run_id,
            pipeline=pipeline,
            stage=stage,
            kind=kind,
            tag=tag,
            limit=limit,
            cursor=cursor,
        )
        return ArtifactList(
            items=[
                handoff_view(h, payload=payload, pipelines=runtime.config.pipelines)
                for h in page.items
            ],
            cursor=page.cursor,
        )

    @get(
        "/v1/events",
        operation_id="listEvents",
        summary="The journal, for tailing",
        description="Events with seq > after. With wait, holds the request until an event "
        "arrives or wait seconds pass (long polling).",
        tags=["events"],
    )
    async def list_events(
        after: Annotated[
            str,
            Parameter(
                pattern=POSITION_PATTERN,
                description="Return events after this position: a seq (a sharded daemon's "
                "positions hold one seq per shard, joined by dots; take them from `position`).",
            ),
        ] = "0",
        limit: Annotated[int, Parameter(ge=0, le=1000)] = 100,
        wait: Annotated[float, Parameter(ge=0, le=MAX_WAIT_SECONDS)] = 0.0,
    ) -> EventList:
        # Async, so a waiting tail holds no worker thread: it polls a counter on the loop.
        checked(tail, after, "after")
        deadline = time.monotonic() + wait
        while not tail.has_after(after) and not stopping.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        end = tail.end()  # before the read: a client resuming at end misses nothing
        found = await asyncio.to_thread(functools.partial(tail.read, after, limit))
        return EventList(
            events=[event for event, _ in found],
            last_seq=tail.total(),
            position=found[-1][1] if found else after,
            end=end,
        )

    @get(
        "/healthz",
        sync_to_thread=True,
        operation_id="health",
        summary="ok, or degraded with reasons",
        description="Open to all. Each reason is a summary (a role's name, not its error) "
        "unless the request carries the token (or the daemon has none): then it says why.",
        tags=["operations"],
    )
    def health(request: Request[Any, Any, Any]) -> Health:
        ok, reasons = runtime.health()
        if stopping.is_set():
            ok, reasons = False, [*reasons, "shutting down"]
        if not request.state.get("authorized", False):
            # Each reason reads "summary: detail"; the detail (an agent's exception text,
            # the store's error) is for operators only.
            reasons = [reason.partition(": ")[0] for reason in reasons]
        return Health(status="ok" if ok else "degraded", reasons=reasons)

    @get(
        "/metrics",
        sync_to_thread=True,
        operation_id="metrics",
        summary="Prometheus metrics (text format)",
        tags=["operations"],
        media_type=METRICS_MEDIA_TYPE,
    )
    def metrics() -> Response[bytes]:
        return Response(generate_latest(runtime.registry), media_type=METRICS_MEDIA_TYPE)

    # GET before POST on the shared path: registering a second handler on a path registers
    # the first again, and Litestar (2.x) then wraps a sync_to_thread handler twice.
    return [
        list_runs,
        submit_run,
        get_run,
        cancel_run,
        list_escalations,
        get_escalation,
        resolve_escalation,
        get_artifact,
        list_artifacts,
        list_events,
        health,
        metrics,
    ]
