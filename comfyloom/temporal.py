"""One way to reach Temporal: the pydantic data converter, and TLS or an API key in production."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from comfyloom.settings import Settings


async def connect(settings: Settings, *, identity: str | None = None) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or bool(settings.temporal_api_key),
        data_converter=pydantic_data_converter,
        identity=identity,
    )
