"""One way to reach Temporal: the pydantic data converter; mTLS, TLS or an API key in production.

The GPU worker dials out from a home network, so everything it needs to trust and be trusted by
Temporal is here: a client certificate and key (self-hosted mTLS), or a Temporal Cloud API key.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from comfyloom import search
from comfyloom.settings import Settings

log = logging.getLogger("comfyloom.temporal")


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS with a client certificate, TLS trusting a private CA, or (True) TLS with the system's trust store."""
    if settings.temporal_tls_cert or settings.temporal_tls_ca:

        def read(path: Path | None) -> bytes | None:
            return path.read_bytes() if path else None

        return TLSConfig(
            client_cert=read(settings.temporal_tls_cert),
            client_private_key=read(settings.temporal_tls_key),
            server_root_ca_cert=read(settings.temporal_tls_ca),
            domain=settings.temporal_tls_server_name,
        )
    return settings.temporal_tls or bool(settings.temporal_api_key)


# What a call raises when Temporal cannot answer: RPCError, or RuntimeError ("Failed client connect") from a lazy
# client (connect(lazy=True)) that has not reached it yet; the next call tries to connect again.
TEMPORAL_AWAY: tuple[type[Exception], ...] = (RPCError, RuntimeError)


async def connect(
    settings: Settings, *, identity: str | None = None, runtime: Runtime | None = None, lazy: bool = False
) -> Client:
    """A client of the configured Temporal; `lazy` connects at its first call, so a Temporal that is away fails
    that call (and is tried again at the next), not the start of the process holding the client."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None,
        tls=tls_config(settings),
        data_converter=pydantic_data_converter,
        identity=identity,
        runtime=runtime,
        lazy=lazy,
    )


async def missing_search_attributes(client: Client) -> list[str]:
    """Those of comfyloom's search attributes the namespace lacks; one there with another type is an error."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    for key in search.ALL:
        present = listed.custom_attributes.get(key.name)
        wanted = _INDEXED[key.indexed_value_type]
        if present is not None and present != wanted:
            raise RuntimeError(
                f"search attribute {key.name} exists in namespace {client.namespace} as "
                f"{IndexedValueType.Name(present)}; comfyloom needs {IndexedValueType.Name(wanted)}"
            )
    return [key.name for key in search.ALL if key.name not in listed.custom_attributes]


async def register_search_attributes(client: Client) -> list[str]:
    """Adds comfyloom's search attributes the namespace lacks; returns their names. Safe to run again.

    Temporal Cloud does not take this call: add them there with `tcld` or the Cloud UI (docs/OPERATIONS.md).
    """
    missing = set(await missing_search_attributes(client))
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(_INDEXED[key.indexed_value_type])
                    for key in search.ALL
                    if key.name in missing
                },
            )
        )
    return sorted(missing)


async def ensure_namespace(client: Client, retention: timedelta = timedelta(days=7)) -> bool:
    """Creates the namespace on a fresh self-hosted cluster; True if it did. (The dev server has `default`.)"""
    try:
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
        return False
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=client.namespace,
            workflow_execution_retention_period=Duration(seconds=int(retention.total_seconds())),
        )
    )
    return True


async def setup_namespace(settings: Settings, *, attempts: int = 30) -> list[str]:
    """`comfyloom temporal-setup`: the namespace (on a fresh self-hosted cluster) and the search attributes;
    returns those it added. A namespace just created takes a moment to accept them, so it tries again."""
    client = await connect(settings, identity="comfyloom-setup")
    for attempt in range(1, attempts + 1):
        try:
            if await ensure_namespace(client):
                log.info("namespace %s created", client.namespace)
            added = await register_search_attributes(client)
            break
        except RPCError as e:
            if attempt == attempts:
                raise
            log.info("not yet (%s); trying again", e.message)
            await asyncio.sleep(2)
    names = ", ".join(key.name for key in search.ALL)
    log.info(
        "namespace %s: search attributes %s %s", client.namespace, names, f"(added {added})" if added else "present"
    )
    return added


_INDEXED = {
    SearchAttributeIndexedValueType.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SearchAttributeIndexedValueType.KEYWORD_LIST: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}
