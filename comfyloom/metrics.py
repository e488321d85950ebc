"""The workers' Prometheus metrics, through Temporal's runtime (no other metrics library: the GPU worker
installs only what it runs; the API's own are api/metrics.py).

- Workers (`METRICS_PORT`): the SDK's `temporal_*` metrics (task latencies, slots, polls), and from
  the workflows `comfyloom_generation_duration{kind,outcome}` and
  `comfyloom_generation_failures{kind,reason}`; from the activities `comfyloom_translation_pending` and
  `comfyloom_webhook_attempts{tenant,outcome}`. The CPU worker adds `comfyloom_gpu_queue_backlog` and
  `comfyloom_gpu_queue_backlog_age_seconds` from Temporal's description of the GPU task queues, and from the GPU
  workers' readiness reports `comfyloom_gpu_workers_polling`, `comfyloom_gpu_template_renderers{template}` and
  `comfyloom_gpu_template_refusing_workers{template}`. The alerts on them: deploy/prometheus/rules/.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from comfyloom.gpu_fleet import gpu_fleet, refusers, takers
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


async def report_gpus(client: Client, runtime: Runtime | None, task_queues: list[str], templates: list[str]) -> None:
    """How many GPU activities wait for a GPU worker and for how long, how many GPU workers poll, and how many of
    them can render each template in use: the alerts for a GPU machine that is off or a ComfyUI that lacks a
    node or model. Renders wait on their template's queue (workflows/policies.py), so `task_queues` are summed."""
    if runtime is None:
        return
    meter = runtime.metric_meter
    count = meter.create_gauge("comfyloom_gpu_queue_backlog", "GPU activities waiting for a GPU worker")
    age = meter.create_gauge_float(
        "comfyloom_gpu_queue_backlog_age_seconds", "How long the oldest waiting GPU activity has waited"
    )
    polling = meter.create_gauge("comfyloom_gpu_workers_polling", "GPU workers polling Temporal now")
    renderers = meter.create_gauge(
        "comfyloom_gpu_template_renderers", "Polling GPU workers that take renders of a template"
    )
    refusing = meter.create_gauge(
        "comfyloom_gpu_template_refusing_workers", "Polling GPU workers whose ComfyUI would refuse a template"
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
            fleet = await gpu_fleet(client, client.namespace)
            polling.set(len(fleet.polling))
            for template in templates:
                renderers.set(takers(template, fleet), {"template": template})
                refusing.set(refusers(template, fleet), {"template": template})
        except Exception as e:  # Temporal unreachable: the SDK's own metrics say so; try again later
            log.warning("could not describe the GPU queues and workers: %r", e)
        await asyncio.sleep(BACKLOG_EVERY.total_seconds())
