"""Does this worker's ComfyUI have what our templates need? Checked at start and every minute.

The answer is logged in plain words and published to object storage for the API's health endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from comfy_templates import Template
from comfyloom.comfyui.client import ComfyClient, ComfyError
from comfyloom.contracts import GpuWorkerReport, TemplateCheck
from comfyloom.keys import worker_report_key
from comfyloom.storage import ObjectStore

log = logging.getLogger("comfyloom.worker_gpu")

CHECK_EVERY_SECONDS = 60.0


def _choices(object_info: dict[str, Any], node: str, input_name: str) -> list[Any] | None:
    """The values ComfyUI offers for a list input (installed models, sampler names), or None."""
    spec = object_info.get(node, {}).get("input", {})
    declared = {**spec.get("required", {}), **spec.get("optional", {})}.get(input_name)
    choices = declared[0] if isinstance(declared, list) and declared else None
    return choices if isinstance(choices, list) else None


def _missing_choices(template: Template, object_info: dict[str, Any]) -> list[tuple[str, str, str, list[Any]]]:
    """Fixed values of the graph (a detector model, an RMBG mode) this ComfyUI does not offer.

    Inputs a job fills in (the checkpoint) are checked separately, against the configured value.
    """
    per_job = set(template.manifest.inputs.values())
    missing = []
    for node_id, node in template.graph.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) or (node_id, name) in per_job:
                continue  # a link to another node, or a value each job sets
            choices = _choices(object_info, node["class_type"], name)
            if choices is not None and value not in choices:
                missing.append((node["class_type"], name, value, choices))
    return missing


async def check_comfyui(
    client: ComfyClient, worker_id: str, checkpoint: str, templates: list[Template]
) -> GpuWorkerReport:
    """What `templates` (this deployment's choice, not every template shipped) need that ComfyUI lacks."""
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
    checkpoints = _choices(info, "CheckpointLoaderSimple", "ckpt_name") or []
    missing_checkpoint = [checkpoint] if checkpoint not in checkpoints else []
    checks, problems = [], []
    if missing_checkpoint:
        problems.append(
            f"checkpoint '{checkpoint}' (COMFYUI_CHECKPOINT), which every template needs, is not in ComfyUI's "
            f"models/checkpoints (installed: {', '.join(sorted(checkpoints)) or 'none'})"
        )
    for template in templates:
        missing_nodes = sorted(template.class_types - set(info))
        missing_values = [m for m in _missing_choices(template, info) if m[0] not in missing_nodes]
        checks.append(
            TemplateCheck(
                template=template.name,
                missing_nodes=missing_nodes,
                missing_models=[*missing_checkpoint, *(str(value) for _, _, value, _ in missing_values)],
            )
        )
        for node in missing_nodes:
            problems.append(
                f"template '{template.name}' needs node '{node}', which this ComfyUI does not have"
                " (custom node missing?)"
            )
        for node, name, value, choices in missing_values:
            problems.append(
                f"template '{template.name}' needs {node}.{name} = '{value}', which this ComfyUI does not offer"
                f" (has: {', '.join(map(str, choices)) or 'none'}; model file missing?)"
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


async def report_forever(
    client: ComfyClient, store: ObjectStore, worker_id: str, checkpoint: str, templates: list[Template]
) -> None:
    last_problems: list[str] | None = None
    while True:
        report = await check_comfyui(client, worker_id, checkpoint, templates)
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
