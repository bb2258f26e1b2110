"""The server's Prometheus metrics, in a registry of its own (one per app, so tests can start several)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,  # noqa: F401  (re-exported for the /metrics route)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "kuzushiji_requests_total",
            "HTTP requests answered, by route and status code",
            ["route", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "kuzushiji_request_errors_total",
            "Requests answered with a 4xx or 5xx, by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kuzushiji_request_seconds",
            "Time from request to response, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "kuzushiji_batch_size", "Pages per model call", buckets=BATCH_BUCKETS, registry=self.registry
        )
        self.model_seconds = Histogram(
            "kuzushiji_model_seconds",
            "Time of one model call (one batch)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.pages = Counter("kuzushiji_pages_total", "Pages recognised", registry=self.registry)
        self.queue = Gauge("kuzushiji_queue_pages", "Pages waiting or in the running batch", registry=self.registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        if status >= 400:
            self.errors.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.model_seconds.observe(seconds)
        self.pages.inc(size)

    def text(self) -> bytes:
        return generate_latest(self.registry)
