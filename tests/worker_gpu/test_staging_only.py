"""The GPU machine's storage credentials may write `staging/` and nothing else, and that is enough: checked
against an S3 that enforces IAM policies, with the very policy deploy/minio gives the GPU user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr
from temporalio.client import Client

from comfyloom.settings import Settings
from comfyloom.storage import ObjectStore
from devstack import localstack
from tests.helpers.auth import as_user
from tests.helpers.jobs import done, start_avatar, wait_for
from tests.helpers.parts import running_gpu_worker
from worker_cpu.worker import build_cpu_worker

POLICY = Path(__file__).parents[2] / "deploy" / "minio" / "gpu-staging-policy.json"


@pytest.fixture
def enforcing_s3(tmp_path: Path, settings: Settings) -> Iterator[tuple[Settings, Settings]]:
    """(cloud settings, GPU settings) on an S3 of their own whose IAM is enforced once set up."""
    service = localstack.start_moto(port=localstack.free_port(), log_dir=tmp_path)
    try:
        iam = boto3.client(
            "iam", endpoint_url=service.url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        keys = {}
        for user, policy in [
            ("cloud", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            ("gpu", json.loads(POLICY.read_text().replace("comfyloom-media", settings.s3_bucket))),
        ]:
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(policy))
            keys[user] = iam.create_access_key(UserName=user)["AccessKey"]
        httpx.post(f"{service.url}/moto-api/reset-auth", content=b"0").raise_for_status()  # enforce from now on

        def as_(user: str) -> Settings:
            return settings.model_copy(
                update={
                    "s3_endpoint_url": service.url,
                    "s3_region": "us-east-1",
                    "s3_access_key_id": keys[user]["AccessKeyId"],
                    "s3_secret_access_key": SecretStr(keys[user]["SecretAccessKey"]),
                }
            )

        yield as_("cloud"), as_("gpu")
    finally:
        service.stop()


@pytest.fixture
async def stores(enforcing_s3: tuple[Settings, Settings]) -> AsyncIterator[tuple[ObjectStore, ObjectStore]]:
    cloud, gpu = enforcing_s3
    cloud_store = ObjectStore(cloud)
    await cloud_store.ensure_bucket()
    yield cloud_store, ObjectStore(gpu)


async def test_the_gpu_user_can_write_staging_but_not_touch_published_images(
    stores: tuple[ObjectStore, ObjectStore],
) -> None:
    cloud, gpu = stores
    await cloud.put("characters/u/c/avatar/a.webp", b"published", "image/webp")
    await gpu.put("staging/wf/prompt/9_0.png", b"render", "image/png")
    for attempt in (
        gpu.put("characters/u/c/avatar/a.webp", b"defaced", "image/webp"),
        gpu.get("characters/u/c/avatar/a.webp"),
        gpu.get("staging/wf/prompt/9_0.png"),
        gpu.delete("staging/wf/prompt/9_0.png"),
    ):
        with pytest.raises(ClientError, match="AccessDenied"):
            await attempt
    assert await cloud.get("characters/u/c/avatar/a.webp") == b"published"


async def test_an_avatar_renders_with_the_gpu_worker_holding_only_staging_rights(
    api: httpx.AsyncClient,
    client: Client,
    pool: asyncpg.Pool,
    enforcing_s3: tuple[Settings, Settings],
    stores: tuple[ObjectStore, ObjectStore],
) -> None:
    cloud_settings, gpu_settings = enforcing_s3
    cloud, gpu = stores
    async with (
        build_cpu_worker(client, pool, cloud, cloud_settings),
        running_gpu_worker(client, gpu, gpu_settings, worker_id="staging-only-gpu"),
    ):
        accepted = await start_avatar(api, "staging-user")
        status = await wait_for(api, accepted["jobId"], done, headers=as_user("staging-user"))
    assert status["status"] == "ready", status
    assert (await cloud.get(status["resultUrl"].split(f"/{cloud.bucket}/", 1)[1]))[:4] == b"RIFF"
