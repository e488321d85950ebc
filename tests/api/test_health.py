from __future__ import annotations

import httpx
import pytest


@pytest.mark.usefixtures("store")  # workers create the bucket; the API only checks it
async def test_health_without_a_gpu_worker_is_degraded(api: httpx.AsyncClient) -> None:
    # GPU pollers stay listed for a while after a worker stops, so this only holds before any GPU test.
    body = (await api.get("/api/v1/image-generation/health")).json()
    assert body["temporal"]["ok"] and body["database"]["ok"] and body["storage"]["ok"]
    if body["gpuWorkers"] == 0:
        assert body["status"] == "degraded"


@pytest.mark.usefixtures("gpu_worker")
async def test_health_sees_a_polling_gpu_worker(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/image-generation/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["gpuWorkers"] >= 1
