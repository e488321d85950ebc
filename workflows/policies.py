"""Every activity's timeouts and retries, in one table an operator can read.

GPU activities wait for a machine that may be switched off: queueing may wait up to the job's GPU
deadline (schedule-to-close), while awaiting a render heartbeats so a dead GPU worker is noticed in
seconds and the render moves on (see workflows/render.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from comfyloom.errors import NON_RETRYABLE
from comfyloom.settings import CPU_TASK_QUEUE, GPU_FLEET_TASK_QUEUE, GPU_TASK_QUEUE


@dataclass(frozen=True)
class ActivityPolicy:
    task_queue: str
    start_to_close: timedelta
    retry: RetryPolicy
    heartbeat: timedelta | None = None
    schedule_to_start: timedelta | None = None
    schedule_to_close: timedelta | None = None
    cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL
    # A local activity: run by the CPU worker that runs the workflow, inside its workflow task, with no
    # round trip through Temporal's queue. For the short steps that follow one another there.
    local: bool = False


def _retry(attempts: int, *, first: float = 1.0, cap: float = 30.0) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=first),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=cap),
        maximum_attempts=attempts,
        non_retryable_error_types=sorted(NON_RETRYABLE),
    )


S = timedelta(seconds=1)
# How long a job's webhook is tried: the longest a WebhookWorkflow stays open (workflows/patches.py counts it).
WEBHOOK_RETRY_WINDOW = 24 * 3600 * S

POLICIES: dict[str, ActivityPolicy] = {
    # CPU, cloud worker
    "open_job": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=10 * S, retry=_retry(10), local=True),
    # The prompt when it needs nothing from Gemini (cached translations, or no key under `warn`): a database read and
    # string work, so in the job's first workflow task; None sends the job to build_prompt.
    "build_cached_prompt": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=10 * S, retry=_retry(3), local=True),
    # Tried until it succeeds or gives up itself: Gemini busy is asked again BUSY_ATTEMPTS times under
    # TRANSLATION_POLICY=warn, and until TRANSLATION_WAIT_SECONDS under wait (activities/prompt.py); a day at most.
    "build_prompt": ActivityPolicy(
        CPU_TASK_QUEUE, start_to_close=60 * S, retry=_retry(0, first=2, cap=60), schedule_to_close=24 * 3600 * S
    ),
    # Whether a chat's end is worth a scene (workflows/chat_moment.py). The API waits for it, so Gemini busy is
    # asked again only within JUDGE_MOMENT_WAIT (a call gives up after GEMINI_TIMEOUT_SECONDS, 20 s by default),
    # then the moment is not drawn.
    "judge_moment": ActivityPolicy(
        CPU_TASK_QUEUE, start_to_close=21 * S, retry=_retry(3, first=1, cap=4), schedule_to_close=26 * S, local=True
    ),
    # Reads the GPU workers' reports before queueing; unreadable ones leave the job to wait for a GPU worker.
    "check_renderable": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=10 * S, retry=_retry(3), local=True),
    # The upload URLs a GPU worker stages a render through (it holds no storage credential): signed locally, no I/O.
    "sign_staging": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=10 * S, retry=_retry(5), local=True),
    # After the render, publish_render (decode once; encode and score at once; publish if allowed) and record run
    # back to back in one workflow task. A storage hiccup is tried again; the render is read again from staging.
    "publish_render": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=60 * S, retry=_retry(10), local=True),
    # Runs from before publish_render: convert -> moderate -> publish.
    "convert_webp": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=60 * S, retry=_retry(5), local=True),
    # About 15 ms an image on one core (bench/images.py); a storage hiccup is tried again.
    "moderate_image": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=30 * S, retry=_retry(5), local=True),
    "publish_image": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=60 * S, retry=_retry(10), local=True),
    "finish_job": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=30 * S, retry=_retry(10), local=True),
    # After publishing, as an ordinary activity: the workflow task that ran convert and publish is recorded
    # first, so no re-run of them ever needs the staged render it deletes.
    "clear_staging": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=60 * S, retry=_retry(0), schedule_to_close=600 * S),
    "finish_set": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=30 * S, retry=_retry(10)),
    "cancel_set": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=30 * S, retry=_retry(0), schedule_to_close=600 * S),
    # Compensation must happen: unlimited attempts, bounded by a ten-minute budget.
    "fail_job": ActivityPolicy(CPU_TASK_QUEUE, start_to_close=30 * S, retry=_retry(0), schedule_to_close=600 * S),
    # A receiver down for hours is waited out: tries again after 2 s, 4 s, 8 s, … then every 10 minutes, for a day;
    # a refused URL is not tried again. Its own workflow, so the job it reports on has already ended.
    "deliver_webhook": ActivityPolicy(
        CPU_TASK_QUEUE,
        start_to_close=30 * S,
        retry=_retry(0, first=2, cap=600),
        schedule_to_close=WEBHOOK_RETRY_WINDOW,
    ),
    # GPU, home worker. Both GPU steps get what is left of the job's GPU deadline (schedule_to_close, set per
    # job) and retry without limit within it: ComfyUI not answering is waited out inside an attempt,
    # heartbeating since when, and an attempt past start_to_close is simply tried again. A rejected graph
    # fails at once. Queueing may wait for a free slot in ComfyUI's queue, heartbeating, so a dead worker is
    # noticed in 20 s.
    # On the template's own queue (comfyloom/gpu_fleet.py), which only workers whose ComfyUI accepts it poll.
    "queue_comfy_prompt": ActivityPolicy(
        GPU_TASK_QUEUE, start_to_close=30 * 60 * S, heartbeat=20 * S, retry=_retry(0, first=2, cap=10)
    ),
    # Runs on the worker-specific queue returned by queue_comfy_prompt. If that worker is gone, the
    # heartbeat times out in 20 s, and its unpolled queue times out in 15 s: the render moves on.
    # A staging upload storage refuses is tried again inside the attempt, the image kept in memory.
    # Cancellation waits for the activity to confirm ComfyUI stopped the prompt.
    "await_comfy_result": ActivityPolicy(
        GPU_TASK_QUEUE,
        start_to_close=30 * 60 * S,
        heartbeat=20 * S,
        schedule_to_start=15 * S,
        retry=_retry(0, first=1, cap=10),
        cancellation=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    ),
    # Held by a GPU worker for as long as it runs (workflows/fleet.py), heartbeating its readiness report: a worker
    # gone stops heartbeating and its slot goes back to the queue within 30 s, for the next worker. An attempt
    # ends itself after PRESENCE_RENEW (activities/presence.py), well inside start-to-close.
    "gpu_worker_presence": ActivityPolicy(
        GPU_FLEET_TASK_QUEUE, start_to_close=25 * 3600 * S, heartbeat=30 * S, retry=_retry(0, first=1, cap=5)
    ),
}

# How long the API waits for a chat moment's verdict; the run is closed by Temporal soon after, whatever it did.
JUDGE_MOMENT_WAIT = 30 * S
JUDGE_MOMENT_RUN_TIMEOUT = JUDGE_MOMENT_WAIT + 10 * S

MAX_RENDER_ATTEMPTS = 3
# Signed staging URLs one render may be given: a new one after each expired or refused upload. Past that, storage
# refuses the GPU machine for another reason (its endpoint, a bucket rule), and the job fails saying so.
MAX_STAGING_SIGNATURES = 5


def template_task_queue(template: str) -> str:
    """Where renders of `template` wait: polled only by GPU workers whose ComfyUI accepts the template."""
    return f"{GPU_TASK_QUEUE}@{template}"
