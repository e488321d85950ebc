"""Builds the CPU worker from its dependencies, so the CLI and the tests start the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import asyncpg
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.chat_moments import MomentActivities
from activities.fleet import FleetActivities
from activities.images import ImageActivities
from activities.jobs import JobActivities
from activities.moderation import ModerationActivities
from activities.prompt import PromptActivities
from activities.publish import PublishActivities
from activities.staging import StagingActivities
from activities.webhooks import WebhookActivities
from comfy_templates import template_names
from comfyloom.settings import CPU_TASK_QUEUE, GPU_TASK_QUEUE, Settings
from comfyloom.storage import ObjectStore
from workflows.policies import template_task_queue
from workflows.registry import ALL_WORKFLOWS, WORKFLOW_RUNNER


def gpu_render_queues() -> list[str]:
    """Where renders wait for a GPU worker: each template's queue, and the shared one of runs started before."""
    return [GPU_TASK_QUEUE, *(template_task_queue(name) for name in template_names())]


def build_cpu_worker(
    client: Client,
    pool: asyncpg.Pool,
    store: ObjectStore,
    settings: Settings,
    *,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    jobs = JobActivities(pool, store)
    prompts = PromptActivities(pool, settings)
    moments = MomentActivities(pool, settings)
    images = ImageActivities(store, pool, settings)
    publish = PublishActivities(store)
    moderation = ModerationActivities(pool, store, settings)
    webhooks = WebhookActivities(pool, settings)
    fleet = FleetActivities(client, pool, settings)
    staging = StagingActivities(store, max_seconds=settings.staging_url_max_seconds)
    return Worker(
        client,
        task_queue=CPU_TASK_QUEUE,
        workflows=ALL_WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_grace_seconds),
        max_concurrent_workflow_tasks=settings.cpu_worker_workflow_tasks,
        interceptors=interceptors,
        activities=[
            jobs.open_job,
            jobs.finish_job,
            jobs.finish_set,
            jobs.cancel_set,
            jobs.fail_job,
            prompts.build_cached_prompt,
            prompts.build_prompt,
            moments.judge_moment,
            fleet.check_renderable,
            staging.sign_staging,
            images.publish_render,
            images.convert_webp,
            moderation.moderate_image,
            publish.publish_image,
            publish.clear_staging,
            webhooks.deliver_webhook,
        ],
    )
