"""The API's Prometheus metrics (`/metrics` on the API port): `comfyloom_api_requests_total{method,route,status}`
and `comfyloom_api_request_duration_seconds{method,route}`, by route template, never by raw path."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics:
    """Request counts and latencies for one API process, on its own registry (tests start several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "comfyloom_api_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "comfyloom_api_request_duration_seconds",
            "Time to answer an HTTP request (streams: until they close)",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Counts and times each HTTP request around `app`. Pure ASGI: Starlette's `BaseHTTPMiddleware` cost
        every request a task group and a stream, which showed in a burst's profile."""

        async def measured(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()
            status = 500

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                route = _route_template(scope)
                self.requests.labels(scope["method"], route, str(status)).inc()
                self.latency.labels(scope["method"], route).observe(time.perf_counter() - started)

        return measured

    def exposition(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _route_template(scope: Scope) -> str:
    """`/api/v1/image-generation/status/{job_id}`: bounded label values, whatever ids clients send. The router
    leaves the route it matched in the (shared) scope."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")
