"""An automatic scene's limits at their edges, from the chat's row and the clock alone: a chat's cooldown ends at
the instant it says, its new messages are counted from the one its last scene was judged on, and the user's daily
cap ends at midnight UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.auto_scenes import capped, gate, new_messages
from api.schemas import MAX_CHAT_CONTEXT, ChatMessageIn, chat_context, kept_messages
from comfyloom.db.chats import ChatRow
from comfyloom.settings import Settings

SETTINGS = Settings(_env_file=None, auto_scene_cooldown_seconds=300, auto_scene_min_messages=3, auto_scene_daily_cap=2)
DRAWN_AT = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
IDS = [f"m{i}" for i in range(10)]


def chat(last_message: str | None = "m4") -> ChatRow:
    return ChatRow(user_id="u", chat_id="c", last_auto_at=DRAWN_AT, last_auto_message_id=last_message)


def test_a_chat_without_an_automatic_scene_is_judged_at_once() -> None:
    assert gate(None, IDS[:1], SETTINGS, DRAWN_AT) is None
    assert gate(ChatRow(user_id="u", chat_id="c", last_scene_at=DRAWN_AT), IDS[:1], SETTINGS, DRAWN_AT) is None


def test_the_cooldown_holds_to_the_microsecond_and_ends_at_the_instant_it_names() -> None:
    ends = DRAWN_AT + timedelta(seconds=300)
    inside = gate(chat(), IDS, SETTINGS, ends - timedelta(microseconds=1))
    assert inside is not None and inside.code == "cooldown" and inside.next_at == ends
    assert "21:05:00 UTC" in inside.reason
    assert gate(chat(), IDS, SETTINGS, ends) is None


def test_new_messages_count_from_the_one_the_last_scene_was_judged_on() -> None:
    after = DRAWN_AT + timedelta(seconds=301)
    assert new_messages(IDS[:7], "m4") == 2
    too_few = gate(chat(), IDS[:7], SETTINGS, after)
    assert too_few is not None and too_few.code == "too_few_messages" and too_few.messages_needed == 1
    assert gate(chat(), IDS[:8], SETTINGS, after) is None
    # The latest message is still the judged one: nothing new.
    assert new_messages(IDS[:5], "m4") == 0


def test_a_window_that_moved_past_the_judged_message_counts_as_enough() -> None:
    """A client sending only its last few messages: the judged one is older than all of them."""
    assert new_messages(IDS[6:8], "m4") is None
    assert gate(chat(), IDS[6:8], SETTINGS, DRAWN_AT + timedelta(seconds=301)) is None


def test_the_daily_cap_ends_at_midnight_utc_and_zero_turns_automatic_scenes_off() -> None:
    assert capped(1, SETTINGS, DRAWN_AT) is None
    full = capped(2, SETTINGS, DRAWN_AT)
    assert full is not None and full.code == "daily_cap" and full.next_at == datetime(2026, 12, 5, tzinfo=UTC)
    off = capped(0, SETTINGS.model_copy(update={"auto_scene_daily_cap": 0}), DRAWN_AT)
    assert off is not None and "AUTO_SCENE_DAILY_CAP=0" in off.reason and off.next_at is None


def test_only_the_latest_messages_that_fit_a_scenes_context_are_read() -> None:
    long = [ChatMessageIn(id=f"m{i}", speaker="Ana", text=str(i) * 1500) for i in range(4)]
    kept = kept_messages(long)
    assert [m.id for m in kept] == ["m2", "m3"] and len(chat_context(kept)) <= MAX_CHAT_CONTEXT
    one = [ChatMessageIn(id="m", speaker="A" * 100, text="b" * 2000)]
    assert kept_messages(one) == one
