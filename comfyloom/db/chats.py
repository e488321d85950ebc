"""A chat's scenes as its automatic ones are judged against: when and what the last was, and a judgement under way."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from comfyloom.db.pool import Executor


class ChatRow(BaseModel):
    user_id: str
    chat_id: str
    # Its last scene, automatic or asked for: when, and what it showed (an automatic one's tags, else its words).
    last_scene_at: datetime | None = None
    last_scene: str | None = None
    # Its last automatic scene, and the latest message it was judged on.
    last_auto_at: datetime | None = None
    last_auto_message_id: str | None = None
    judging_until: datetime | None = None


async def get_chat(conn: Executor, user_id: str, chat_id: str) -> ChatRow | None:
    row = await conn.fetchrow("select * from chats where user_id = $1 and chat_id = $2", user_id, chat_id)
    return ChatRow.model_validate(dict(row)) if row else None


async def known(conn: Executor, user_id: str, chat_id: str) -> bool:
    """The user has this chat: a scene asked for it, or a judgement of it."""
    return bool(
        await conn.fetchval(
            "select exists (select 1 from chats where user_id = $1 and chat_id = $2)"
            " or exists (select 1 from generation_jobs where user_id = $1 and chat_id = $2)",
            user_id,
            chat_id,
        )
    )


async def claim_judging(conn: Executor, user_id: str, chat_id: str, seconds: float) -> bool:
    """Mark a judgement of the chat under way for up to `seconds`; False while another one is."""
    claimed = await conn.fetchval(
        "insert into chats (user_id, chat_id, judging_until) values ($1, $2, now() + make_interval(secs => $3))"
        " on conflict (user_id, chat_id) do update set judging_until = excluded.judging_until"
        " where chats.judging_until is null or chats.judging_until < now() returning true",
        user_id,
        chat_id,
        seconds,
    )
    return bool(claimed)


async def end_judging(conn: Executor, user_id: str, chat_id: str) -> None:
    await conn.execute("update chats set judging_until = null where user_id = $1 and chat_id = $2", user_id, chat_id)


async def scene_asked(
    conn: Executor, user_id: str, chat_id: str, *, shown: str, auto_message_id: str | None = None
) -> None:
    """A scene of the chat was admitted: what it shows, and for an automatic one, the message it was judged on."""
    await conn.execute(
        "insert into chats as c (user_id, chat_id, last_scene_at, last_scene, last_auto_at, last_auto_message_id)"
        " values ($1, $2, now(), $3, case when $4::text is null then null else now() end, $4)"
        " on conflict (user_id, chat_id) do update set last_scene_at = now(), last_scene = $3,"
        " last_auto_at = case when $4::text is null then c.last_auto_at else now() end,"
        " last_auto_message_id = coalesce($4, c.last_auto_message_id)",
        user_id,
        chat_id,
        shown,
        auto_message_id,
    )


async def auto_scenes_today(conn: Executor, user_id: str) -> int:
    """The user's automatic scenes admitted this UTC day, less those that failed or were cancelled (no image)."""
    count = await conn.fetchval(
        "select count(*) from generation_jobs where user_id = $1 and auto_scene"
        " and created_at >= date_trunc('day', now() at time zone 'utc') at time zone 'utc'"
        " and status not in ('failed', 'cancelled')",
        user_id,
    )
    return int(count)
