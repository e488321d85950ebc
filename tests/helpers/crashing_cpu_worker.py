"""A CPU worker that dies (`os._exit`) right after one activity's work is done: a deploy's kill at that point.

`python -m tests.crashing_cpu_worker <activity name>`, configured from the environment like the real one.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from comfyloom import db, temporal
from comfyloom.settings import get_settings
from comfyloom.storage import ObjectStore
from worker_cpu.worker import build_cpu_worker

KILLED = 9


class DieAfter(Interceptor):
    def __init__(self, activity_type: str) -> None:
        self.activity_type = activity_type

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _DieAfter(next, self.activity_type)


class _DieAfter(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, activity_type: str) -> None:
        super().__init__(next)
        self.activity_type = activity_type

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().activity_type == self.activity_type:
            print(f"dying after {self.activity_type}", flush=True)
            os._exit(KILLED)
        return result


async def main(activity_type: str) -> None:
    settings = get_settings()
    assert settings.database_url
    pool = await db.connect(settings.database_url)
    client = await temporal.connect(settings)
    worker = build_cpu_worker(client, pool, ObjectStore(settings), settings, interceptors=[DieAfter(activity_type)])
    print("polling", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
