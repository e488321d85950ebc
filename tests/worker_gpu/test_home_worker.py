"""The GPU worker as it runs at home: it dials out to Temporal over mutual TLS, rides out a network cut and
a Temporal restart mid-render without rendering twice, and stops gracefully."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RetryConfig, RPCError

from comfyloom import temporal
from comfyloom.settings import CPU_TASK_QUEUE, Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from devstack.simulator import SIMULATOR, Fault, SimConfig, Simulator, serve
from tests.helpers.auth import as_user
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.parts import running_gpu_worker, serve_api
from tests.helpers.tls_proxy import Pki, TlsProxy, make_pki
from worker_cpu.worker import build_cpu_worker
from worker_gpu.worker import run_gpu_worker


@pytest.fixture
async def sim(settings: Settings) -> AsyncIterator[tuple[Simulator, Settings]]:
    port = localstack.free_port()
    runner = await serve(SimConfig(render_seconds=0.4), "127.0.0.1", port)
    yield runner.app[SIMULATOR], settings.model_copy(update={"comfyui_url": f"http://127.0.0.1:{port}"})
    await runner.cleanup()


@pytest.fixture
async def tls(client: Client, tmp_path: Path) -> AsyncIterator[tuple[TlsProxy, Pki]]:
    pki = make_pki(tmp_path)
    proxy = TlsProxy(client.service_client.config.target_host, pki, door=True)
    await proxy.start()
    yield proxy, pki
    await proxy.stop()


def over_tls(settings: Settings, proxy: TlsProxy, pki: Pki) -> Settings:
    return settings.model_copy(
        update={
            "temporal_address": proxy.address,
            "temporal_tls_cert": pki.client_cert,
            "temporal_tls_key": pki.client_key,
            "temporal_tls_ca": pki.ca,
            "temporal_tls_server_name": "localhost",
        }
    )


@pytest.mark.usefixtures("cpu_worker")
async def test_gpu_worker_renders_over_mutual_tls_and_is_refused_without_a_certificate(
    api: httpx.AsyncClient,
    client: Client,
    store: ObjectStore,
    sim: tuple[Simulator, Settings],
    tls: tuple[TlsProxy, Pki],
) -> None:
    simulator, settings = sim
    home = over_tls(settings, *tls)
    gpu_client = await temporal.connect(home, identity="home-gpu")
    async with running_gpu_worker(gpu_client, home, worker_id="home-gpu", observer=client):
        accepted = await start_avatar(api, "home-user")
        status = await wait_for(api, accepted["jobId"], done, headers=as_user("home-user"))
    assert status["status"] == "ready", status
    assert simulator.renders == 1

    proxy = tls[0]
    print("calls through the door:", sorted({p for gate in proxy.gates for p in gate.paths}))
    assert [p for gate in proxy.gates for p in gate.refused] == [], "the door lets through all a GPU worker does"

    anonymous = home.model_copy(update={"temporal_tls_cert": None, "temporal_tls_key": None})
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(temporal.connect(anonymous), 30)


async def test_a_stolen_gpu_certificate_cannot_start_stop_or_read_workflows(
    api: httpx.AsyncClient, client: Client, settings: Settings, tls: tuple[TlsProxy, Pki]
) -> None:
    """The door (deploy/nginx/temporal-mtls.conf) lets a GPU certificate make a GPU worker's calls only."""
    proxy, pki = tls
    accepted = await start_avatar(api, "door-user")  # someone's job, in flight

    async def stolen() -> Client:  # a fresh connection per try: the door drops the one that asks too much
        return await Client.connect(
            proxy.address,
            namespace=settings.temporal_namespace,
            tls=temporal.tls_config(over_tls(settings, proxy, pki)),
            retry_config=RetryConfig(max_retries=0),
        )

    workflow_id = accepted["workflowId"]
    tries: dict[str, Callable[[Client], Awaitable[object]]] = {
        "StartWorkflowExecution": lambda c: c.start_workflow("AvatarWorkflow", id="stolen", task_queue=CPU_TASK_QUEUE),
        "TerminateWorkflowExecution": lambda c: c.get_workflow_handle(workflow_id).terminate("stolen"),
        "GetWorkflowExecutionHistory": lambda c: c.get_workflow_handle(workflow_id).fetch_history(),
    }
    for method, call in tries.items():
        with pytest.raises(RPCError):
            await asyncio.wait_for(call(await stolen()), 10)
        refused = [path for gate in proxy.gates for path in gate.refused]
        assert refused[-1] == f"/temporal.api.workflowservice.v1.WorkflowService/{method}", refused
    handle = client.get_workflow_handle(accepted["workflowId"])
    assert (await handle.describe()).status != WorkflowExecutionStatus.TERMINATED
    await handle.cancel()


@pytest.mark.usefixtures("cpu_worker")
async def test_a_network_cut_mid_render_reconnects_and_renders_once(
    api: httpx.AsyncClient,
    client: Client,
    store: ObjectStore,
    sim: tuple[Simulator, Settings],
    tls: tuple[TlsProxy, Pki],
) -> None:
    simulator, settings = sim
    proxy, pki = tls
    simulator.faults.append(Fault(kind="slow", seconds=4.0))
    home = over_tls(settings, proxy, pki)
    gpu_client = await temporal.connect(home, identity="home-gpu")
    async with running_gpu_worker(gpu_client, home, worker_id="home-gpu", observer=client):
        accepted = await start_avatar(api, "home-user")
        await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "rendering", headers=as_user("home-user"))
        await asyncio.sleep(0.5)
        proxy.cut()  # Wi-Fi drops for 5 s, mid-render: heartbeats and polls fail, the render goes on
        await asyncio.sleep(5)
        proxy.restore()
        status = await wait_for(api, accepted["jobId"], done, within=60, headers=as_user("home-user"))
    assert status["status"] == "ready", status
    assert simulator.renders == 1


async def stop_while_rendering(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, settings: Settings, *, grace: float, worker_id: str
) -> dict[str, str]:
    """A GPU worker with this grace period takes a slow render and is stopped, as SIGTERM stops it
    (comfyloom/lifecycle.py), while it renders; returns once the worker has stopped."""
    stop = asyncio.Event()
    graced = settings.model_copy(update={"shutdown_grace_seconds": grace})
    worker = asyncio.create_task(run_gpu_worker(client, graced, stop, worker_id=worker_id))
    accepted = await start_avatar(api, worker_id)
    # Rendering in ComfyUI, its progress heard: not merely past the prompt step, with the GPU step to come.
    await wait_for(api, accepted["jobId"], lambda s: s["progress"] is not None, headers=as_user(worker_id))
    stop.set()
    await asyncio.wait_for(worker, grace + 10)
    return accepted


@pytest.mark.usefixtures("cpu_worker")
async def test_sigterm_lets_the_current_render_finish(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, sim: tuple[Simulator, Settings]
) -> None:
    simulator, settings = sim
    simulator.faults.append(Fault(kind="slow", seconds=2.0))
    accepted = await stop_while_rendering(api, client, store, settings, grace=20.0, worker_id="graceful-gpu")
    # No GPU worker polls now: the job can end ready only if the stopped one delivered its render before it
    # returned. The CPU steps after the render take what the machine's load makes them take.
    status = await wait_for(api, accepted["jobId"], done, within=30, headers=as_user("graceful-gpu"))
    assert status["status"] == "ready", status
    assert simulator.renders == 1


@pytest.mark.usefixtures("cpu_worker")
async def test_a_stop_past_the_grace_period_hands_the_render_to_the_next_worker(
    api: httpx.AsyncClient, client: Client, store: ObjectStore, sim: tuple[Simulator, Settings]
) -> None:
    simulator, settings = sim
    simulator.faults.append(Fault(kind="slow", seconds=3.0))
    accepted = await stop_while_rendering(api, client, store, settings, grace=0.2, worker_id="handover-gpu")
    assert simulator.running is not None  # ComfyUI was left rendering, not interrupted
    async with running_gpu_worker(client, settings, worker_id="handover-gpu"):  # the restarted worker
        status = await wait_for(api, accepted["jobId"], done, within=60, headers=as_user("handover-gpu"))
    assert status["status"] == "ready", status
    assert simulator.renders == 1


async def test_a_temporal_restart_mid_render_loses_nothing(
    tmp_path: Path, settings: Settings, pool: asyncpg.Pool, store: ObjectStore, sim: tuple[Simulator, Settings]
) -> None:
    simulator, sim_settings = sim
    port, ui_port = localstack.free_port(), localstack.free_port()
    db_file = tmp_path / "temporal.db"  # a cluster keeps its state across restarts
    server = localstack.start_temporal(port=port, ui_port=ui_port, db_file=db_file, log_dir=tmp_path)
    try:
        own = sim_settings.model_copy(update={"temporal_address": server.url})
        own_client = await temporal.connect(own)
        await temporal.register_search_attributes(own_client)
        async with (
            serve_api(own, pool) as api,
            build_cpu_worker(own_client, pool, store, own),
            running_gpu_worker(own_client, own, worker_id="restart-gpu"),
        ):
            simulator.faults.append(Fault(kind="slow", seconds=3.0))
            accepted = await start_avatar(api, "restart-user")
            await wait_for(api, accepted["jobId"], lambda s: s["stage"] == "rendering", headers=as_user("restart-user"))
            server.stop()
            server = localstack.start_temporal(port=port, ui_port=ui_port, db_file=db_file, log_dir=tmp_path)
            status = await wait_for(api, accepted["jobId"], done, within=90, headers=as_user("restart-user"))
        assert status["status"] == "ready", status
        assert simulator.renders == 1
    finally:
        server.stop()
