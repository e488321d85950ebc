"""An app's users: a service key names them (X-On-Behalf-Of) and they exist from that first request on."""

from __future__ import annotations

import re
from uuid import UUID

from comfyloom.db.pool import Executor

# App user ids become part of user ids, and so of object keys (characters/{userId}/…): a safe alphabet.
APP_USER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TENANT = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def user_id_for(tenant: str, app_user_id: str) -> str:
    """A tenant's user as every table knows them; '.' is in neither part, so the pair is never ambiguous."""
    if not TENANT.fullmatch(tenant) or not APP_USER_ID.fullmatch(app_user_id):
        raise ValueError(f"not a tenant and app user id: {tenant!r}, {app_user_id!r}")
    return f"{tenant}.{app_user_id}"


async def ensure(conn: Executor, tenant: str, app_user_id: str, key_id: UUID) -> str:
    """The app user's id, recorded (with the key that first named them) if this is their first request."""
    user_id = user_id_for(tenant, app_user_id)
    await conn.execute(
        "insert into app_users (user_id, tenant, external_id, first_key_id) values ($1, $2, $3, $4)"
        " on conflict do nothing",
        user_id,
        tenant,
        app_user_id,
        key_id,
    )
    return user_id
