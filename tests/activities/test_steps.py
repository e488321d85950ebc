"""The stubs workflows call (activities/steps.py) match what the workers run: same names, same types."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

import pytest
from temporalio import activity

from activities import steps
from activities.chat_moments import MomentActivities
from activities.comfy import ComfyActivities
from activities.fleet import FleetActivities
from activities.images import ImageActivities
from activities.jobs import JobActivities
from activities.moderation import ModerationActivities
from activities.presence import PresenceActivities
from activities.prompt import PromptActivities
from activities.publish import PublishActivities
from activities.staging import StagingActivities
from activities.webhooks import WebhookActivities

IMPLEMENTATIONS = [
    ComfyActivities,
    FleetActivities,
    ImageActivities,
    JobActivities,
    ModerationActivities,
    MomentActivities,
    PresenceActivities,
    PromptActivities,
    PublishActivities,
    StagingActivities,
    WebhookActivities,
]


def by_name(functions: list[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The activities among `functions`, by the name they are registered under."""
    found = {}
    for fn in functions:
        defn = activity._Definition.from_callable(fn)
        if defn is not None and defn.name is not None:
            found[defn.name] = fn
    return found


def registered() -> dict[str, Callable[..., Any]]:
    """Every activity method the workers register."""
    return by_name([m for cls in IMPLEMENTATIONS for _, m in inspect.getmembers(cls, inspect.isfunction)])


def stubs() -> dict[str, Callable[..., Any]]:
    return by_name([fn for _, fn in inspect.getmembers(steps, inspect.isfunction)])


def test_every_activity_a_worker_runs_has_a_stub_and_every_stub_a_worker() -> None:
    assert set(stubs()) == set(registered())


@pytest.mark.parametrize("name", sorted(stubs()))
def test_a_stub_takes_and_returns_what_its_implementation_does(name: str) -> None:
    stub, implementation = get_type_hints(stubs()[name]), get_type_hints(registered()[name])
    assert list(stub.values()) == list(implementation.values())
