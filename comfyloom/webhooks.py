"""Webhooks as the Standard Webhooks spec has them: who may be called, what is sent, and how it is signed.

A receiver verifies `webhook-signature` (HMAC-SHA256 over `id.timestamp.body` with its key's secret) with any
Standard Webhooks library, and drops a `webhook-id` it has seen: a delivery retried after a lost answer
carries the same id.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import secrets
import socket
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A signing secret in the spec's form: `whsec_` and 24 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(secret: str, event_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, timestamp, body),
        "content-type": "application/json",
    }


def body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The spec's envelope: what happened, when, and the object it happened to."""
    return json.dumps({"type": event_type, "timestamp": timestamp.isoformat(), "data": data}, separators=(",", ":"))


def _refused_address(address: str, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if any(ip in network for network in allowed):
        return False
    return not ip.is_global or ip.is_multicast


async def refusal(url: str, allowed_networks: list[str]) -> str | None:
    """Why this URL may not be called, or None: not http(s), not resolvable, or resolving to a private,
    loopback, link-local or otherwise non-public address outside `allowed_networks` (WEBHOOK_ALLOWED_NETWORKS).
    Checked when a request names the URL and again before each delivery, so a name that later resolves
    inwards is caught then."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        return f"it is not a URL: {e}"
    if parts.scheme not in ("http", "https") or not host:
        return "a webhook URL is http:// or https:// with a host"
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as e:
        return f"its host does not resolve: {e}"
    allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
    inward = sorted({str(info[4][0]) for info in found if _refused_address(str(info[4][0]), allowed)})
    if inward:
        return (
            f"it resolves to {', '.join(inward)}, a private, loopback or link-local address"
            " (an operator may allow networks with WEBHOOK_ALLOWED_NETWORKS)"
        )
    return None
