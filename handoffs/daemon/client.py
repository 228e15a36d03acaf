"""A client of the daemon's HTTP API, returning the same msgspec types the daemon sends.

::

    with Client("http://127.0.0.1:8765") as client:
        run_id, created = client.submit("content", {"topic": "solar panels"})
        detail = client.run(run_id)

Every method raises :class:`ClientError` for an error response (with its status, code and
field) and when the daemon cannot be reached. Not thread-safe; one per thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from handoffs.daemon.errors import ClientError
from handoffs.daemon.wire import (
    ArtifactList,
    CancelRequest,
    ErrorBody,
    EscalationList,
    EventList,
    HandoffView,
    Health,
    ResolveRequest,
    RunDetail,
    RunList,
    SubmitRequest,
    SubmitResponse,
)
from handoffs.messages import Escalation, ResolutionAction, encode_json

__all__ = ["DEFAULT_URL", "Client", "load_client_token"]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8765"
_error_decoder = msgspec.json.Decoder(ErrorBody)


def load_client_token(token_file: Path | None) -> str | None:
    """The token from ``token_file``, else from ``$HANDOFFS_TOKEN``, else ``None``.

    Raises:
        ClientError: the file cannot be read.
    """
    if token_file is not None:
        try:
            return token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ClientError(f"cannot read token file {token_file}: {exc}") from None
    return os.environ.get("HANDOFFS_TOKEN") or None


class Client:
    """Talks to one daemon at ``url``; sends ``token`` as a bearer token when given."""

    def __init__(self, url: str = DEFAULT_URL, *, token: str | None = None, timeout: float = 30.0):
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url.rstrip("/")
        # trust_env=False: a proxy from the environment must not sit between us and the daemon.
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, trust_env=False
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # ----------------------------------------------------------------- transport

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: msgspec.Struct | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        extra = timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        try:
            response = self._http.request(
                method,
                path,
                params=query,
                content=encode_json(body) if body is not None else None,
                headers={
                    **(headers or {}),
                    **({"Content-Type": "application/json"} if body else {}),
                },
                timeout=extra,
            )
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the daemon at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response

    def _get(self, path: str, tp: type[T], **params: Any) -> T:
        return _decode(self._request("GET", path, params=params), tp)

    # ----------------------------------------------------------------- API

    def submit(
        self, pipeline: str, input: dict[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[SubmitResponse, bool]:
        """Start a run; return it and whether it was created (``False``: an idempotent repeat)."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = self._request(
            "POST", "/v1/runs", body=SubmitRequest(pipeline=pipeline, input=input), headers=headers
        )
        return _decode(response, SubmitResponse), response.status_code == 201

    def run(self, run_id: str, *, payload: bool = False) -> RunDetail:
        """One run with its handoffs in order (their payloads too with ``payload``)."""
        return self._get(f"/v1/runs/{run_id}", RunDetail, payload=int(payload))

    def cancel(self, run_id: str, reason: str | None = None) -> RunDetail:
        """End a running or escalated run ``cancelled`` (with ``reason``); return it."""
        body = CancelRequest(reason=reason) if reason is not None else None
        response = self._request("POST", f"/v1/runs/{run_id}/cancel", body=body)
        return _decode(response, RunDetail)

    def runs(
        self,
        *,
        state: str | None = None,
        pipeline: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunList:
        """A page of runs, oldest first."""
        return self._get(
            "/v1/runs", RunList, state=state, pipeline=pipeline, limit=limit, cursor=cursor
        )

    def escalations(
        self, *, state: str = "open", limit: int = 50, cursor: str | None = None
    ) -> EscalationList:
        """A page of escalations in ``state`` (``open``, ``resolved`` or ``all``)."""
        return self._get("/v1/escalations", EscalationList, state=state, limit=limit, cursor=cursor)

    def escalation(self, escalation_id: str) -> Escalation:
        """One escalation."""
        return self._get(f"/v1/escalations/{escalation_id}", Escalation)

    def resolve(
        self, escalation_id: str, action: ResolutionAction, feedback: str | None = None
    ) -> Escalation:
        """Resolve an escalation: ``approve``, ``revise`` (with feedback) or ``cancel``."""
        response = self._request(
            "POST",
            f"/v1/escalations/{escalation_id}/resolve",
            body=ResolveRequest(action=action, feedback=feedback),
        )
        return _decode(response, Escalation)

    def artifact(self, artifact_id: str) -> HandoffView:
        """One handoff record with its payload."""
        return self._get(f"/v1/artifacts/{artifact_id}", HandoffView)

    def artifacts(
        self, *, limit: int = 50, cursor: str | None = None, **selector: str
    ) -> ArtifactList:
        """Handoff records by exactly one of run_id, pipeline (and stage), kind, tag."""
        return self._get("/v1/artifacts", ArtifactList, limit=limit, cursor=cursor, **selector)

    def events(self, *, after: int | str = 0, limit: int = 100, wait: float = 0.0) -> EventList:
        """Journal events after the position ``after`` (a seq, or a sharded daemon's
        position; resume from the answer's ``position``); with ``wait``, long-poll up to that
        many seconds."""
        return _decode(
            self._request(
                "GET",
                "/v1/events",
                params={"after": after, "limit": limit, "wait": wait},
                timeout=wait + 30.0,
            ),
            EventList,
        )

    def health(self) -> Health:
        """``ok`` or ``degraded`` with reasons."""
        return self._get("/healthz", Health)

    def metrics(self) -> str:
        """The Prometheus scrape, as text."""
        return self._request("GET", "/metrics").text


def _decode(response: httpx.Response, tp: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=tp)
    except msgspec.MsgspecError as exc:
        raise ClientError(
            f"unexpected response from the daemon ({response.status_code}): {exc}",
            status=response.status_code,
        ) from None


def _error_of(response: httpx.Response) -> ClientError:
    try:
        detail = _error_decoder.decode(response.content).error
    except msgspec.MsgspecError:
        text = response.text.strip()[:200] or response.reason_phrase
        return ClientError(f"HTTP {response.status_code}: {text}", status=response.status_code)
    message = (
        detail.message
        if detail.field is None or detail.field in detail.message
        else (f"{detail.message} (at {detail.field})")
    )
    return ClientError(message, status=response.status_code, code=detail.code, field=detail.field)
