"""sign_staging: the upload URLs a GPU worker stages a render through, so the GPU machine holds no storage
credential. Each URL lets its holder PUT one key, as a PNG, until the job's GPU deadline (at most
STAGING_URL_MAX_SECONDS); it cannot list, read or delete anything."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from temporalio import activity

from comfy_templates import load_template
from comfyloom.contracts.render import SignedUpload, SignStaging
from comfyloom.object_keys import STAGED_RENDER_MAX_BYTES, staged_render_key
from comfyloom.storage import ObjectStore

STAGED_CONTENT_TYPE = "image/png"


class StagingActivities:
    def __init__(self, store: ObjectStore, *, max_seconds: int) -> None:
        self._store = store
        self._max = timedelta(seconds=max_seconds)

    @activity.defn(name="sign_staging")
    async def sign_staging(self, request: SignStaging) -> list[SignedUpload]:
        now = datetime.now(UTC)
        expires_at = min(request.expires_at, now + self._max)
        seconds = max(1, math.ceil((expires_at - now).total_seconds()))
        outputs = load_template(request.template).manifest.outputs
        signed = []
        for index, node_id in enumerate(outputs):
            key = staged_render_key(request.staging_prefix, request.prompt_id, node_id, index)
            signed.append(
                SignedUpload(
                    key=key,
                    url=self._store.presign_put(key, STAGED_CONTENT_TYPE, seconds),
                    content_type=STAGED_CONTENT_TYPE,
                    max_bytes=STAGED_RENDER_MAX_BYTES,
                    expires_at=now + timedelta(seconds=seconds),
                )
            )
        return signed
