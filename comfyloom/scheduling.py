"""Who a shared GPU renders for first: Temporal's task-queue priority by kind, and fairness by who pays.

Priority keys run from 1 (first) to 5; a backlogged queue hands out every task of a lower key before any of a
higher one. A job's run is started with its key, and its activities (the GPU step among them) and a set's
child stickers inherit it, so the render's task carries it:

- 2, interactive: a chat scene (someone is mid-conversation), a single sticker, an avatar (someone is looking
  at the character's page). Equal among themselves: each is one render a person waits for.
- 3, a story's cover: waited for, but by a writer publishing a story, who reads on meanwhile.
- 4, a sticker set's stickers: eight renders nobody watches one by one.
- 5, `background`: any job its request lowered.
- 1, `urgent`: only an operator key may ask for it.

Within one key, fairness shares the GPU among fairness keys in proportion to their weights: the tenant for a
service key (an app's backend acting for its users), the user for a user key. Temporal takes one fairness key a
task, so the users of one app share their app's share first come, first served (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from comfyloom.contracts.domain import ImageKind

# Prompts a GPU worker lets its ComfyUI hold at once (running + pending): one rendering and the next one ready, so
# the GPU never idles between jobs, while the rest of the backlog stays in Temporal, where any GPU worker can take
# it, priority and fairness order it, and a cancelled job never reaches ComfyUI (worker_gpu/slot_supplier.py).
COMFY_BACKLOG = 2

URGENT = 1
INTERACTIVE = 2
COVER = 3
BULK = 4
BACKGROUND = 5

KIND_PRIORITY: dict[ImageKind, int] = {
    ImageKind.scene: INTERACTIVE,
    ImageKind.sticker: INTERACTIVE,
    ImageKind.avatar: INTERACTIVE,
    ImageKind.cover: COVER,
}
# A sticker set's run and its stickers (children inherit their parent's priority).
STICKER_SET_PRIORITY = BULK

# What a request may ask: its kind's own priority, lower (`background`), or, with an operator key, `urgent`.
RequestedPriority = Literal["normal", "background", "urgent"]


class Scheduling(BaseModel):
    """A run's place on the queues: Temporal's Priority, as the start note keeps it."""

    priority_key: int
    fairness_key: str
    fairness_weight: float = 1.0


def goes_to_front(priority_key: int | None) -> bool:
    """A render someone waits for: its GPU worker queues it ahead of the bulk prompt its ComfyUI holds next, so
    it waits for the render under way only (activities/comfy.py)."""
    return priority_key is not None and 0 < priority_key <= INTERACTIVE


def held_ahead(priority_key: int | None) -> int:
    """How many of the prompts a GPU's ComfyUI holds a job of this priority waits behind."""
    return 1 if goes_to_front(priority_key) else COMFY_BACKLOG


def priority_key(base: int, requested: RequestedPriority) -> int:
    return {"normal": base, "background": BACKGROUND, "urgent": URGENT}[requested]


def fairness_key(*, user_id: str, tenant: str | None) -> str:
    """The tenant for a service key, the user for a user key (prefixed: a tenant and a user may share a name)."""
    return f"tenant:{tenant}" if tenant is not None else f"user:{user_id}"


def scheduling(
    base: int, requested: RequestedPriority, *, user_id: str, tenant: str | None, weights: dict[str, float]
) -> Scheduling:
    """A run's scheduling; the API refuses `urgent` before, to any key but an operator's."""
    key = fairness_key(user_id=user_id, tenant=tenant)
    bare = tenant if tenant is not None else user_id
    return Scheduling(
        priority_key=priority_key(base, requested),
        fairness_key=key,
        fairness_weight=weights.get(key, weights.get(bare, 1.0)),
    )
