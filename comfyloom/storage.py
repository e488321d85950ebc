"""S3-compatible object storage: R2 in production, moto_server in tests and the dev stack."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from comfyloom.object_keys import PUBLIC_PREFIXES
from comfyloom.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PUBLIC_CACHE_CONTROL = "public, max-age=31536000, immutable"


# The object metadata (x-amz-meta-job) naming the job a public object was published for.
OWNER_METADATA = "job"
# A conditional PUT refused because an object holds the key (S3, R2 and moto say 412). A 409
# (ConditionalRequestConflict: another write of the key still in progress) is raised, and tried again.
CREATE_REFUSED = ("PreconditionFailed", "412")


class ObjectMissing(LookupError):
    pass


@dataclass(frozen=True)
class StoredObject:
    etag: str
    # The job it was published for; None for a staged object, or one published before owners were written.
    owner: str | None

    def owned_by_another(self, job: str) -> bool:
        """Another job's image: publishing must not overwrite it, nor a failure path delete it."""
        return self.owner is not None and self.owner != job


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class ObjectStore:
    """Async facade over boto3: each call runs in a thread so the event loop never blocks."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.bucket = settings.s3_bucket

    def _s3(self, endpoint_url: str | None, config: Config) -> S3Client:
        s = self._settings
        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=s.s3_region,
            aws_access_key_id=s.s3_access_key_id,
            aws_secret_access_key=s.s3_secret_access_key.get_secret_value(),
            aws_session_token=s.s3_session_token,
            config=config,
        )

    @cached_property
    def _client(self) -> S3Client:
        return self._s3(
            self._settings.s3_endpoint_url,
            Config(retries={"mode": "standard", "max_attempts": 3}, s3={"addressing_style": "path"}),
        )

    @cached_property
    def _signer(self) -> S3Client:
        """Signs upload URLs for the GPU machines, for the endpoint they reach (SigV4 signs the host)."""
        s = self._settings
        return self._s3(
            s.s3_upload_endpoint_url or s.s3_endpoint_url,
            Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def presign_put(self, key: str, content_type: str, expires_in: int) -> str:
        """A URL that lets its holder PUT `key`, with exactly `content_type`, for `expires_in` seconds; no I/O."""
        return self._signer.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type},
            ExpiresIn=expires_in,
            HttpMethod="PUT",
        )

    def public_url(self, key: str) -> str:
        return self._settings.public_url(key)

    async def ensure_bucket(self) -> None:
        """Create the bucket if missing (local stacks), readable by anyone under the public prefixes only.

        In production the bucket exists already and is left as configured (R2 public access is a
        bucket setting, not a policy).
        """

        def run() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError:
                pass
            region = self._settings.s3_region
            if region == "us-east-1":  # S3's one region that refuses an explicit constraint
                self._client.create_bucket(Bucket=self.bucket)
            else:
                self._client.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={"LocationConstraint": region},  # type: ignore[typeddict-item]
                )
            statement = {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::{self.bucket}/{prefix}*" for prefix in PUBLIC_PREFIXES],
            }
            self._client.put_bucket_policy(
                Bucket=self.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
            )

        await asyncio.to_thread(run)

    async def ping(self) -> None:
        await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)

    async def put(self, key: str, body: bytes, content_type: str) -> None:
        await asyncio.to_thread(
            self._client.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType=content_type
        )

    async def get(self, key: str) -> bytes:
        def run() -> bytes:
            return self._client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

        return await asyncio.to_thread(run)

    async def exists(self, key: str) -> bool:
        return await self.describe(key) is not None

    async def describe(self, key: str) -> StoredObject | None:
        """The object's ETag and owner, or None when there is none."""

        def run() -> StoredObject | None:
            try:
                head = self._client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as e:
                if _missing(e):
                    return None
                raise
            return StoredObject(etag=head["ETag"], owner=head.get("Metadata", {}).get(OWNER_METADATA))

        return await asyncio.to_thread(run)

    async def publish(self, source_key: str, public_key: str, content_type: str, owner: str | None = None) -> None:
        """Server-side copy into the public layout, with the headers browsers and CDNs need, and the job it is
        published for (`owner`). Raises ObjectMissing when `source_key` is not there."""

        def run() -> None:
            try:
                self._client.copy_object(
                    Bucket=self.bucket,
                    Key=public_key,
                    CopySource={"Bucket": self.bucket, "Key": source_key},
                    ContentType=content_type,
                    CacheControl=PUBLIC_CACHE_CONTROL,
                    MetadataDirective="REPLACE",
                    Metadata={OWNER_METADATA: owner} if owner else {},
                )
            except ClientError as e:
                if _missing(e):
                    raise ObjectMissing(source_key) from e
                raise

        await asyncio.to_thread(run)

    async def create_public(self, key: str, body: bytes, content_type: str, owner: str) -> bool:
        """Write `body` to a public key only if no object holds it (a conditional PUT, `If-None-Match: *`, so two
        writers cannot both win), with the headers `publish` sets; False when one already does."""

        def run() -> bool:
            try:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=content_type,
                    CacheControl=PUBLIC_CACHE_CONTROL,
                    Metadata={OWNER_METADATA: owner},
                    IfNoneMatch="*",
                )
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") in CREATE_REFUSED:
                    return False
                raise
            return True

        return await asyncio.to_thread(run)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def list_keys(self, prefix: str) -> list[str]:
        def run() -> list[str]:
            keys: list[str] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(obj["Key"] for obj in page.get("Contents", []))
            return keys

        return await asyncio.to_thread(run)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under a prefix; returns how many went. Used to clear staging."""
        if not prefix.endswith("/"):
            raise ValueError(f"refusing to delete a prefix that is not a folder: {prefix!r}")
        keys = await self.list_keys(prefix)

        def run() -> None:
            for i in range(0, len(keys), 1000):
                chunk = keys[i : i + 1000]
                self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
                )

        if keys:
            await asyncio.to_thread(run)
        return len(keys)
