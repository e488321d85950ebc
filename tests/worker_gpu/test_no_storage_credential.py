"""The GPU machine holds no storage credential: it stages each render through a URL the cloud side signed for
that one object, until the job's GPU deadline; an expired URL is signed anew, and the render is not drawn again.

moto does not check presigned signatures (and answers 500 to them once its IAM is enforced), so what a URL
allows is read from the URL here: one key, PUT, its content type signed, its expiry. That S3 and R2 refuse
anything else is their SigV4, documented, not ours to imitate.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.client import Client

from activities.staging import StagingActivities
from comfyloom.contracts.render import SignStaging
from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack.simulator import SimConfig
from tests.helpers.gpu import activity_attempts, assert_no_leftovers, gpu, simulated
from tests.helpers.history import record
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.tls_proxy import Proxy
from worker_cpu.worker import build_cpu_worker

ROOT = Path(__file__).parents[2]


def no_storage(settings: Settings) -> Settings:
    """A GPU machine's settings: nothing under S3_* (the bucket, endpoint and keys are not its business)."""
    return settings.model_copy(
        update={
            "s3_endpoint_url": None,
            "s3_upload_endpoint_url": None,
            "s3_access_key_id": "",
            "s3_secret_access_key": SecretStr(""),
            "s3_bucket": "not-this-machines-business",
        }
    )


async def test_a_signed_url_names_one_key_one_method_its_content_type_and_its_deadline(
    store: ObjectStore, settings: Settings
) -> None:
    deadline = datetime.now(UTC) + timedelta(minutes=10)
    signer = StagingActivities(store, max_seconds=7 * 86_400)
    [upload] = await signer.sign_staging(
        SignStaging(prompt_id="p1", template="avatar", staging_prefix="staging/avatar-1/", expires_at=deadline)
    )
    url = urlsplit(upload.url)
    query = parse_qs(url.query)
    assert upload.key == "staging/avatar-1/p1/9_0.png" and url.path == f"/{settings.s3_bucket}/{upload.key}"
    assert query["X-Amz-SignedHeaders"] == ["content-type;host"] and upload.content_type == "image/png"
    assert 599 <= int(query["X-Amz-Expires"][0]) <= 600 and abs(upload.expires_at - deadline) < timedelta(seconds=1)
    # The machine's PUT with that content type lands the object, and nothing else was needed for it.
    async with httpx.AsyncClient() as http:
        put = await http.put(upload.url, content=b"\x89PNG", headers={"Content-Type": "image/png"})
    assert put.status_code == 200 and await store.get(upload.key) == b"\x89PNG"
    capped = StagingActivities(store, max_seconds=60)
    [short] = await capped.sign_staging(
        SignStaging(prompt_id="p1", template="avatar", staging_prefix="staging/avatar-1/", expires_at=deadline)
    )
    assert parse_qs(urlsplit(short.url).query)["X-Amz-Expires"] == ["60"]


async def test_an_avatar_renders_with_no_storage_setting_on_the_gpu_machine(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    async with (
        simulated(no_storage(settings), SimConfig(render_seconds=0.3)) as rig,
        build_cpu_worker(client, pool, store, settings),
        gpu(client, rig, worker_id="no-storage-gpu"),
    ):
        accepted = await start_avatar(api)
        status = await wait_for(api, accepted["jobId"], done)
    assert status["status"] == "ready", status
    assert (await store.get(status["resultUrl"].split(f"/{store.bucket}/", 1)[1]))[:4] == b"RIFF"


async def test_an_upload_whose_url_expired_gets_a_new_url_and_no_new_render(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    """URLs valid for one second, a render of three: the first URL is dead when the image is ready. The workflow
    signs again, the worker fetches the finished image from ComfyUI again, and it is staged once."""
    cloud = settings.model_copy(update={"staging_url_max_seconds": 1})
    async with (
        simulated(no_storage(settings), SimConfig(render_seconds=3.0)) as rig,
        build_cpu_worker(client, pool, store, cloud),
        gpu(client, rig, worker_id="expiring-gpu"),
    ):
        accepted = await start_avatar(api)
        status = await wait_for(api, accepted["jobId"], done, within=60)
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    assert await activity_attempts(client, accepted["workflowId"], "await_comfy_result") == 2
    await assert_no_leftovers(store, pool, accepted, ready=True)
    await record(client, accepted["workflowId"], "avatar_staging_url_expired_signed_again")


async def test_a_gpu_worker_restarted_mid_upload_stages_the_render_once(
    api: httpx.AsyncClient, client: Client, pool: asyncpg.Pool, store: ObjectStore, settings: Settings
) -> None:
    """The uplink drops as the render ends, and the worker is restarted while its upload waits: its successor
    (same worker id) re-attaches to the finished prompt and uploads through the same signed URL."""
    assert settings.s3_endpoint_url
    uplink = Proxy(settings.s3_endpoint_url.removeprefix("http://"))
    await uplink.start()
    cloud = settings.model_copy(update={"s3_upload_endpoint_url": f"http://{uplink.address}"})
    try:
        async with (
            simulated(no_storage(settings), SimConfig(render_seconds=1.0)) as rig,
            build_cpu_worker(client, pool, ObjectStore(cloud), cloud),
        ):
            async with gpu(client, rig, worker_id="restarting-gpu"):
                uplink.cut()
                accepted = await start_avatar(api)
                await wait_for(api, accepted["jobId"], lambda s: "storage" in str(s.get("waiting")), within=30)
            uplink.restore()
            async with gpu(client, rig, worker_id="restarting-gpu"):
                status = await wait_for(api, accepted["jobId"], done, within=60)
    finally:
        await uplink.stop()
    assert status["status"] == "ready", status
    assert rig.sim.renders == 1
    await assert_no_leftovers(store, pool, accepted, ready=True)


def test_the_home_workers_example_settings_hold_no_storage_setting() -> None:
    example = (ROOT / "gpu-worker.env.example").read_text()
    assert not [line for line in example.splitlines() if line.lstrip("# ").startswith("S3_")]
