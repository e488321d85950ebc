"""Prometheus metrics an operator scrapes: the API's requests by route, the workers' Temporal and job metrics."""

from __future__ import annotations

import asyncio
import re
import time

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from comfyloom import metrics
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from tests.helpers.auth import as_user
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.operations.test_alerts import monitored_metrics
from worker_cpu.worker import build_cpu_worker, gpu_render_queues


async def test_api_counts_requests_by_route_template_not_by_id(api: httpx.AsyncClient) -> None:
    missing = "6f1c2b9e-0000-4000-8000-000000000000"
    assert (await api.get(f"/api/v1/characters/{missing}")).status_code == 404
    scraped = (await api.get("/metrics")).text
    assert (
        'comfyloom_api_requests_total{method="GET",route="/api/v1/characters/{character_id}",status="404"}' in scraped
    )
    assert 'comfyloom_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/characters/' in (
        scraped
    )
    assert missing not in scraped


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text


@pytest.mark.usefixtures("gpu_worker")
async def test_worker_exports_sdk_metrics_generation_duration_and_gpu_backlog(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    port = localstack.free_port()
    runtime = metrics.worker_runtime(settings.model_copy(update={"metrics_port": port}))
    assert runtime is not None
    measured = await Client.connect(
        client.service_client.config.target_host, runtime=runtime, data_converter=pydantic_data_converter
    )
    backlog = asyncio.create_task(metrics.report_gpus(measured, runtime, gpu_render_queues(), ["avatar"]))
    try:
        async with build_cpu_worker(measured, pool, store, settings):
            accepted = await start_avatar(api, "metrics-user")
            assert (await wait_for(api, accepted["jobId"], done, headers=as_user("metrics-user")))["status"] == "ready"
            deadline = time.monotonic() + 10
            while not re.search(
                r'comfyloom_generation_duration_count\{kind="avatar",.*outcome="ready"', text := scrape(port)
            ):
                assert time.monotonic() < deadline, text
                await asyncio.sleep(0.2)
    finally:
        backlog.cancel()
    assert "temporal_workflow_completed" in text
    assert "temporal_activity_execution_latency" in text
    assert "comfyloom_gpu_queue_backlog " in text
    assert "comfyloom_gpu_queue_backlog_age_seconds " in text
    assert re.search(r"comfyloom_gpu_workers_polling\{[^}]*\} [1-9]", text), text
    assert re.search(r'comfyloom_gpu_template_renderers\{[^}]*template="avatar"[^}]*\} [1-9]', text), text
    assert re.search(r'comfyloom_gpu_template_refusing_workers\{[^}]*template="avatar"[^}]*\} 0', text), text
    # The SDK's metrics the alerts read, as they are named and labelled on a real worker's endpoint.
    for name in {name for name in monitored_metrics() if name.startswith("temporal_")}:
        assert f"\n{name}{{" in text, name
    assert re.search(r'temporal_num_pollers\{[^}]*poller_type="workflow_task"[^}]*task_queue="imagegen-cpu"', text)
