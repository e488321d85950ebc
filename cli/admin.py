"""`comfyloom keys …` and `comfyloom credits …`: operator commands on the database, for when there is no admin
key yet."""

from __future__ import annotations

import argparse
import asyncio
import sys
from uuid import UUID

from comfyloom.settings import get_settings
from comfyloom.startup import database_url, host_of, reaching


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="create, list and revoke API keys (needs DATABASE_URL)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new key for a user or an app; the key is printed once")
    owner = create.add_mutually_exclusive_group(required=True)
    owner.add_argument("--user", help="the user the key acts as (letters, digits, _ and -)")
    owner.add_argument(
        "--tenant", help="a service key for an app's backend: it acts for the app's users (X-On-Behalf-Of)"
    )
    create.add_argument("--name", default="", help="what the key is for, shown in listings")
    create.add_argument("--admin", action="store_true", help="an operator's key: also the /api/v1/admin endpoints")
    create.add_argument("--webhook-url", help="where this key's jobs report when a request names no webhookUrl")
    listing = actions.add_parser("list", help="keys, without their secrets")
    listing.add_argument("--user")
    revoke = actions.add_parser("revoke", help="stop a key working")
    revoke.add_argument("key_id", type=UUID)

    money = sub.add_parser("credits", help="grant credits, or show a balance (needs DATABASE_URL)")
    money_actions = money.add_subparsers(dest="action", required=True)
    grant = money_actions.add_parser("grant", help="add credits to a user (negative takes them away)")
    grant.add_argument("--user", required=True)
    grant.add_argument("--amount", type=int, required=True)
    grant.add_argument("--note", default="granted from the command line")
    show = money_actions.add_parser("show", help="a user's balance and held credits")
    show.add_argument("--user", required=True)


async def _run(args: argparse.Namespace) -> int:
    """Raises:
    StartupError: DATABASE_URL unset, or its PostgreSQL unreachable.
    """
    # Here, not at the top: every `comfyloom` command builds these commands' parsers, the GPU worker's too,
    # and its machine has no PostgreSQL driver (pyproject.toml's groups).
    from comfyloom import db
    from comfyloom.db import api_keys, credits, webhooks

    url = database_url(get_settings(), f"`{args.command}` command")
    async with reaching("PostgreSQL", host_of(url), "DATABASE_URL"):
        pool = await db.connect(url, max_size=1)
    try:
        await db.migrate(pool)
        if args.action == "create":
            try:
                key, secret = await api_keys.create(
                    pool,
                    user_id=args.user,
                    tenant=args.tenant,
                    name=args.name,
                    admin=args.admin,
                    webhook_url=args.webhook_url,
                )
            except ValueError as e:
                print(e, file=sys.stderr)
                return 2
            print(secret)
            owner = f"user {key.user_id}" if key.tenant is None else f"the users of app {key.tenant}"
            print(
                f"key {key.id} for {owner}{' (admin)' if key.admin else ''}: keep it, it is not stored",
                file=sys.stderr,
            )
            print(f"its webhook signing secret: {await webhooks.secret_for(pool, key.id)}", file=sys.stderr)
        elif args.action == "list":
            for key in await api_keys.list_keys(pool, user_id=args.user):
                state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "live"
                owner = key.user_id or f"app {key.tenant}"
                print(f"{key.id}  {key.prefix}…  {owner:<20} {'admin ' if key.admin else ''}{state}  {key.name}")
        elif args.action == "grant":
            async with pool.acquire() as conn, conn.transaction():
                try:
                    balance = await credits.grant(conn, args.user, args.amount, args.note)
                except credits.InsufficientCredits as e:
                    print(f"cannot take {-args.amount}: the balance is {e.balance}", file=sys.stderr)
                    return 1
            print(f"{args.user}: {balance} credits")
        elif args.action == "show":
            account = await credits.balance(pool, args.user)
            print(f"{args.user}: {account.balance} credits, {account.reserved} held by running jobs")
        elif args.action == "revoke":
            if not await api_keys.revoke(pool, args.key_id):
                print(f"no live key {args.key_id}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}")
    finally:
        await pool.close()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
