"""Prometheus metrics for `GET /metrics`: requests by platform and intent, answer outcomes, latency,
open escalations, errors. One registry per server, so tests can run several in one process."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from handlers.message import Message, Reply

__all__ = ["CONTENT_TYPE", "Metrics"]

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "whoowns_requests", "Messages handled", ["platform", "intent"], registry=self.registry
        )
        self.outcomes = Counter(
            "whoowns_answer_outcomes",
            "Questions by outcome (answer, clarify, unknown)",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "whoowns_handle_seconds",
            "Time to handle a message, from the adapter's hand-over to the reply",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "whoowns_errors", "Failures by kind", ["kind"], registry=self.registry
        )
        self.open_escalations = Gauge(
            "whoowns_open_escalations", "Escalations not yet resolved", registry=self.registry
        )

    def observe(self, message: Message, reply: Reply, seconds: float) -> None:
        self.requests.labels(message.platform, reply.intent).inc()
        if reply.intent == "who_owns" and reply.outcome:
            self.outcomes.labels(reply.outcome).inc()
        if reply.intent == "error":
            self.errors.labels("store_unavailable").inc()
        self.latency.labels(message.platform).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
