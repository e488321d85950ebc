"""Prometheus metrics: the API's requests, and on the workers Temporal's SDK metrics plus comfyloom's own.

- API (`/metrics` on the API port): `comfyloom_api_requests_total{method,route,status}` and
  `comfyloom_api_request_duration_seconds{method,route}`, by route template, never by raw path.
- Workers (`METRICS_PORT`): the SDK's `temporal_*` metrics (task latencies, slots, polls), and from
  the workflows `comfyloom_generation_duration{kind,outcome}` and
  `comfyloom_generation_failures{kind,reason}`; the CPU worker adds `comfyloom_gpu_queue_backlog` and
  `comfyloom_gpu_queue_backlog_age_seconds` from Temporal's description of the GPU task queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from comfyloom.settings import Settings

log = logging.getLogger("comfyloom.metrics")

BACKLOG_EVERY = timedelta(seconds=15)


def worker_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting to Prometheus on METRICS_PORT; None (the default runtime) without it."""
    if settings.metrics_port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}", durations_as_seconds=True)
        )
    )


async def report_gpu_backlog(client: Client, runtime: Runtime | None, task_queues: list[str]) -> None:
    """How many GPU activities wait for a GPU worker, and for how long: the alert for a GPU machine that is off.
    Renders wait on their template's queue (workflows/policies.py), so `task_queues` are summed."""
    if runtime is None:
        return
    meter = runtime.metric_meter
    count = meter.create_gauge("comfyloom_gpu_queue_backlog", "GPU activities waiting for a GPU worker")
    age = meter.create_gauge_float(
        "comfyloom_gpu_queue_backlog_age_seconds", "How long the oldest waiting GPU activity has waited"
    )
    while True:
        try:
            described = [
                await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace,
                        task_queue=TaskQueue(name=queue),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                        report_stats=True,
                    ),
                    timeout=timedelta(seconds=5),
                )
                for queue in task_queues
            ]
            count.set(sum(d.stats.approximate_backlog_count for d in described))
            age.set(max(d.stats.approximate_backlog_age.ToTimedelta().total_seconds() for d in described))
        except Exception as e:  # Temporal unreachable: the SDK's own metrics say so; try again later
            log.warning("could not describe the GPU queues: %r", e)
        await asyncio.sleep(BACKLOG_EVERY.total_seconds())


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
