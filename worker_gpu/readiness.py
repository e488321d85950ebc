"""Does this worker's ComfyUI have what our templates need? Checked at start and every minute.

The answer is logged in plain words and published to object storage for the API's health endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from comfy_templates import load_template, template_names
from comfyloom.comfyui.client import ComfyClient, ComfyError
from comfyloom.contracts import GpuWorkerReport, TemplateCheck
from comfyloom.keys import worker_report_key
from comfyloom.storage import ObjectStore

log = logging.getLogger("comfyloom.worker_gpu")

CHECK_EVERY_SECONDS = 60.0


def _installed(object_info: dict[str, object], node: str, input_name: str) -> set[str]:
    try:
        choices = object_info[node]["input"]["required"][input_name][0]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return set()
    return set(choices) if isinstance(choices, list) else set()


async def check_comfyui(client: ComfyClient, worker_id: str, checkpoint: str) -> GpuWorkerReport:
    now = datetime.now(UTC)
    try:
        info = await client.object_info()
        stats = await client.system_stats()
    except ComfyError as e:
        return GpuWorkerReport(
            worker_id=worker_id,
            comfyui_url=client.base_url,
            reachable=False,
            checked_at=now,
            problems=[f"ComfyUI at {client.base_url} does not answer: {e}"],
        )
    checkpoints = _installed(info, "CheckpointLoaderSimple", "ckpt_name")
    missing_models = [checkpoint] if checkpoint not in checkpoints else []
    checks, problems = [], []
    if missing_models:
        problems.append(
            f"checkpoint '{checkpoint}' (COMFYUI_CHECKPOINT), which every template needs, is not in ComfyUI's "
            f"models/checkpoints (installed: {', '.join(sorted(checkpoints)) or 'none'})"
        )
    for name in template_names():
        template = load_template(name)
        missing_nodes = sorted(template.class_types - set(info))
        checks.append(TemplateCheck(template=name, missing_nodes=missing_nodes, missing_models=missing_models))
        for node in missing_nodes:
            problems.append(
                f"template '{name}' needs node '{node}', which this ComfyUI does not have (custom node missing?)"
            )
    system = stats.get("system", {})
    return GpuWorkerReport(
        worker_id=worker_id,
        comfyui_url=client.base_url,
        reachable=True,
        checked_at=now,
        comfyui_version=system.get("comfyui_version"),
        devices=[d.get("name", "?") for d in stats.get("devices", [])],
        templates=checks,
        problems=sorted(set(problems)),
    )


async def report_forever(client: ComfyClient, store: ObjectStore, worker_id: str, checkpoint: str) -> None:
    last_problems: list[str] | None = None
    while True:
        report = await check_comfyui(client, worker_id, checkpoint)
        if report.problems != last_problems:
            for problem in report.problems:
                log.warning("%s", problem)
            if not report.problems:
                log.info("ComfyUI at %s has every node and model the templates need", client.base_url)
            last_problems = report.problems
        try:
            await store.put(worker_report_key(worker_id), report.model_dump_json().encode(), "application/json")
        except Exception as e:  # storage down must not stop the worker; the next round tries again
            log.warning("could not publish the worker report: %r", e)
        await asyncio.sleep(CHECK_EVERY_SECONDS)
