"""Postgres access: one pool, migrations applied on start, small repositories per table."""

from comfyloom.db.pool import connect, migrate

__all__ = ["connect", "migrate"]
