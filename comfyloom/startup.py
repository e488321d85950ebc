"""A process that cannot start says why in one sentence naming the setting to fix, never with a traceback.

Every entry point (the API, both workers, `temporal-setup`) reads its settings through `load_settings()` and
reaches each part inside `reaching()`; `run_service` and the `comfyloom` command print a `StartupError`'s
sentence and exit 1.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
from collections.abc import AsyncIterator
from typing import NoReturn
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_settings import SettingsError

from comfyloom.settings import Settings, get_settings

# Storage credentials that anyone can read: the code's own defaults and the example files' placeholders.
DEV_STORAGE_SECRETS = frozenset({"comfyloom", "comfyloom-secret", "comfyloom-gpu-secret"})


class StartupError(Exception):
    """Why this process cannot start, as one sentence naming the setting to fix."""


def exit_with(message: str) -> NoReturn:
    """Print why the process cannot start and end it at once, status 1. Not through interpreter shutdown: after
    a failed connect, the Temporal SDK's core threads can call into Python while it finalizes, and the process
    then aborts (`Fatal Python error: PyGILState_Release`, SIGABRT) after the sentence. A process that never
    started has nothing to clean up."""
    sys.stdout.flush()
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
    os._exit(1)


def load_settings(*, uses_storage: bool = True) -> Settings:
    """The settings, checked as a process about to start needs them (`uses_storage`: its storage credentials too).

    Raises:
        StartupError: a setting missing, malformed, or a dev default where storage is not on this machine.
    """
    try:
        settings = get_settings()
    except ValidationError as e:
        first = e.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if not first["loc"]:  # a rule across settings: its message names them
            raise StartupError(message) from None
        name = str(first["loc"][0]).upper()
        shown = "" if "secret" in name.lower() or "key" in name.lower() else f" (got {first.get('input')!r})"
        raise StartupError(f"{name} is not valid: {message}{shown}") from None
    except SettingsError as e:  # a JSON setting that is not JSON: 'error parsing value for field "x" from ...'
        field = str(e).split('"')[1] if str(e).count('"') >= 2 else "a JSON setting"
        raise StartupError(f"{field.upper()} is not valid JSON") from None
    secret = settings.s3_secret_access_key.get_secret_value()
    if (
        uses_storage
        and (secret in DEV_STORAGE_SECRETS or secret.startswith("change-me"))
        and not _on_this_machine(settings.s3_endpoint_url)
    ):
        raise StartupError(
            "S3_SECRET_ACCESS_KEY is a default anyone can read, and storage is not on this machine"
            f" ({settings.s3_endpoint_url or 'S3_ENDPOINT_URL unset'}): set the bucket's own key"
        )
    for setting, path in (
        ("TEMPORAL_TLS_CERT", settings.temporal_tls_cert),
        ("TEMPORAL_TLS_KEY", settings.temporal_tls_key),
        ("TEMPORAL_TLS_CA", settings.temporal_tls_ca),
    ):
        if path is not None and not path.is_file():
            raise StartupError(f"{setting} names {path}, and there is no such file")
    return settings


def database_url(settings: Settings, process: str) -> str:
    """Raises:
    StartupError: DATABASE_URL unset.
    """
    if not settings.database_url:
        raise StartupError(f"DATABASE_URL is not set, and the {process} needs PostgreSQL")
    return settings.database_url


def host_of(url: str | None) -> str | None:
    """Where a URL points, without its credentials."""
    parts = urlsplit(url or "")
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _on_this_machine(url: str | None) -> bool:
    """Storage on a loopback address: the dev stack's moto_server or a test's; dev defaults are fine there."""
    host = urlsplit(url or "").hostname
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@contextlib.asynccontextmanager
async def reaching(part: str, where: str | None, setting: str) -> AsyncIterator[None]:
    """Turn a part being unreachable while the process starts into its sentence.

    Raises:
        StartupError: `part` at `where` did not answer, naming `setting`.
    """
    try:
        yield
    except StartupError:
        raise
    except Exception as e:  # each client has its own: OSError, RuntimeError, botocore's, asyncpg's
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        if reason.startswith("Failed client connect"):  # Temporal's, then a page of its transport's detail
            reason = "no connection"
        raise StartupError(
            f"{part} at {where or '(unset)'} refused or did not answer ({reason[:160]}): check {setting}"
        ) from None
