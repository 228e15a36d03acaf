"""Prometheus metrics of model calls, on a registry the caller passes in (never the global one).

Labels are bounded: role, model, outcome, kind. Never run or task ids, never the endpoint's
URL or key. One request outcome is counted per HTTP request, so a call retried twice after a
429 counts ``rate_limited`` twice and ``ok`` once, and ``retries`` twice.
"""

from __future__ import annotations

from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["OUTCOMES", "LLMMetrics", "Outcome"]

Outcome = Literal[
    "ok",
    "rate_limited",
    "server_error",
    "connection_error",
    "timeout",
    "refused",
    "invalid_output",
    "refusal",
]
#: Every value of the ``outcome`` label.
OUTCOMES: Final = (
    "ok",
    "rate_limited",
    "server_error",
    "connection_error",
    "timeout",
    "refused",
    "invalid_output",
    "refusal",
)

# A model call takes from milliseconds (a local test server) to minutes (a long answer).
_DURATION_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    20.0,
    30.0,
    60.0,
    120.0,
)


class LLMMetrics:
    """The model-call metrics. Thread-safe and loop-safe: prometheus_client children lock."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "handoffs_llm_requests",
            "HTTP requests to model endpoints, by what came back.",
            ["role", "model", "outcome"],
            registry=registry,
        )
        self.tokens = Counter(
            "handoffs_llm_tokens",
            "Tokens the endpoints reported, prompt and completion.",
            ["role", "model", "kind"],
            registry=registry,
        )
        self.duration = Histogram(
            "handoffs_llm_request_duration_seconds",
            "Time of one HTTP request to a model endpoint, whatever its outcome.",
            ["role", "model"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "handoffs_llm_retries",
            "Requests sent again after a 429, a 5xx, a timeout or a connection error.",
            ["role", "model"],
            registry=registry,
        )

    def request(self, role: str, model: str, outcome: Outcome, seconds: float) -> None:
        """One HTTP request ended with ``outcome`` after ``seconds``."""
        self.requests.labels(role, model, outcome).inc()
        self.duration.labels(role, model).observe(seconds)

    def usage(self, role: str, model: str, prompt: int, completion: int) -> None:
        """Tokens one answer used, as the endpoint reported them."""
        self.tokens.labels(role, model, "prompt").inc(prompt)
        self.tokens.labels(role, model, "completion").inc(completion)

    def retry(self, role: str, model: str) -> None:
        """A request is about to be sent again."""
        self.retries.labels(role, model).inc()
