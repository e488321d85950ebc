"""Does this worker's ComfyUI have what our templates need? Checked at start, every minute (every 10 s while
something is wrong), and whenever ComfyUI's WebSocket connects or drops.

The answer is logged in plain words and sent to the cloud as the heartbeat of this worker's presence activity
(activities/presence.py, workflows/fleet.py), for the API's health and the render's check before queueing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from comfy_templates import SUPPORTED_PACKS, Template
from comfyloom.comfyui.client import ComfyClient, ComfyError, ComfyEvents
from comfyloom.comfyui.validation import combo_options, explain, packs_in, validate_prompt
from comfyloom.contracts.health import GpuWorkerReport, RenderNow, TemplateCheck

log = logging.getLogger("comfyloom.worker_gpu")

CHECK_EVERY_SECONDS = 60.0
# While something is wrong (ComfyUI unreachable, a model missing), so health sees the fix within seconds.
RECHECK_SECONDS = 10.0


def _choices(object_info: dict[str, Any], node: str, input_name: str) -> list[Any] | None:
    """The values ComfyUI offers for a list input (installed models, sampler names), or None: in either form
    current ComfyUI uses, as its validation reads them (`combo_options`)."""
    spec = object_info.get(node, {}).get("input", {})
    declared = {**spec.get("required", {}), **spec.get("optional", {})}.get(input_name)
    if not isinstance(declared, list) or not declared:
        return None
    extra = declared[1] if len(declared) > 1 and isinstance(declared[1], dict) else {}
    return combo_options(declared[0], extra)


@dataclass(frozen=True)
class Missing:
    node_id: str
    node: str
    input: str
    value: Any
    choices: list[Any]
    # The manifest input it is, e.g. "checkpoint" (None for a value fixed in the graph).
    field: str | None


def _missing_choices(template: Template, object_info: dict[str, Any], checkpoint: str) -> list[Missing]:
    """Values of the graph (a detector model, an RMBG mode, the configured checkpoint where the graph
    loads one) this ComfyUI does not offer. Other inputs a job fills in (prompt, seed) are not choices."""
    per_job = {where: field for field, where in template.manifest.inputs.items()}
    missing = []
    for node_id, node in template.graph.items():
        for name, value in node["inputs"].items():
            field = per_job.get((node_id, name))
            if field == "checkpoint":
                value = checkpoint
            elif isinstance(value, list) or field is not None:
                continue  # a link to another node, or a value each job sets
            choices = _choices(object_info, node["class_type"], name)
            if choices is not None and value not in choices:
                missing.append(Missing(node_id, node["class_type"], name, value, choices, field))
    return missing


# ComfyUI versions this worker has been run against (shared/comfyui-protocol): the oldest ignores the prompt
# ids clients choose, which the worker handles; both are supported. Others are untested, not refused.
TESTED_VERSIONS = ("0.3.44", "0.3.64")


def _version(text: str) -> tuple[int, ...] | None:
    parts = text.strip().lstrip("v").split(".")
    try:
        return tuple(int(p) for p in parts[:3])
    except ValueError:
        return None


def version_note(version: str | None) -> str | None:
    """What to know about this ComfyUI version, in plain words; None for a tested one."""
    tested = [v for v in map(_version, TESTED_VERSIONS) if v is not None]
    listed = " and ".join(TESTED_VERSIONS)
    found = _version(version) if version else None
    if found is None:
        return f"ComfyUI reports no version we can read ({version or 'none'}): untested (tested: {listed})"
    if found in tested:
        return None
    if found < min(tested):
        return (
            f"ComfyUI {version} is older than any tested ({listed}) and unsupported: it may lack the queue,"
            " history and interrupt calls the worker relies on; update ComfyUI"
        )
    return f"ComfyUI {version} is untested (tested: {listed}); it should work: report what does not"


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
            problems=[f"ComfyUI at {client.base_url} does not answer: {e.__cause__ or e!r}"],
            templates=[TemplateCheck(template=t.name, renders=False) for t in templates],
        )
    checks, problems = [], []
    without_checkpoint: dict[str, str] = {}  # template -> the checkpoints ComfyUI offers
    for template in templates:
        missing_nodes = sorted(template.class_types - set(info))
        missing_values = [m for m in _missing_choices(template, info, checkpoint) if m.node not in missing_nodes]
        # Why this template cannot render here, for the workflow's answer to a job of it (comfyloom/gpu_fleet.py).
        # Missing nodes and ComfyUI's refusals go to the report's problems as they are; a missing model is said
        # there without its node id, and the checkpoint once for all templates.
        reasons: list[str] = []
        for node in missing_nodes:
            reasons.append(
                f"template '{template.name}' needs node '{node}', which this ComfyUI does not have"
                " (custom node missing?)"
            )
        problems += reasons
        for m in missing_values:
            offered = ", ".join(sorted(map(str, m.choices))) or "none"
            setting = " (COMFYUI_CHECKPOINT)" if m.field == "checkpoint" else ""
            reasons.append(
                f"{template.name}: {m.node} (node {m.node_id}) input {m.input} is '{m.value}'{setting}, which this"
                f" ComfyUI does not offer (has: {offered}; model file missing?)"
            )
            if m.field == "checkpoint":
                without_checkpoint[template.name] = offered
            else:
                problems.append(
                    f"template '{template.name}' needs {m.node}.{m.input} = '{m.value}', which this ComfyUI does"
                    f" not offer (has: {offered}; model file missing?)"
                )
        if not reasons:  # the rest in ComfyUI's own terms: what its validation would refuse
            graph = template.render(template.sample_params(checkpoint))
            refused = explain(validate_prompt(graph, info), graph, info, template.name, supported=SUPPORTED_PACKS)
            reasons += refused
            problems += refused
        checks.append(
            TemplateCheck(
                template=template.name,
                missing_nodes=missing_nodes,
                missing_models=[str(m.value) for m in missing_values],
                reasons=reasons,
                renders=not reasons,
            )
        )
    if without_checkpoint:
        problems.append(
            f"checkpoint '{checkpoint}' (COMFYUI_CHECKPOINT), which {', '.join(without_checkpoint)} load, is not in"
            f" ComfyUI's models/checkpoints (installed: {next(iter(without_checkpoint.values()))})"
        )
    system = stats.get("system", {})
    version = system.get("comfyui_version")
    note = version_note(version)
    return GpuWorkerReport(
        worker_id=worker_id,
        comfyui_url=client.base_url,
        reachable=True,
        checked_at=now,
        comfyui_version=version,
        devices=[d.get("name", "?") for d in stats.get("devices", [])],
        packs=packs_in(info),
        templates=checks,
        problems=sorted(set(problems)),
        notes=[note] if note else [],
    )


class Capability:
    """Which templates this worker takes renders of, by its latest readiness check: the gate on each template's
    queue (worker_gpu/slot_supplier.py). Until the first check, none; then all but those a reachable ComfyUI was found
    to refuse (a template this deployment does not use is not checked, and ComfyUI has the last word on it).
    A ComfyUI that does not answer keeps the last verdict: its jobs are taken and wait for ComfyUI inside the
    activity, as they always did. It also holds the latest report, for the presence activity to send."""

    def __init__(self) -> None:
        self._refused: set[str] | None = None
        self._report: GpuWorkerReport | None = None
        self._in_comfyui: dict[str, RenderNow] = {}
        self._next = asyncio.Event()
        # Set once the first report was sent: the worker polls only then, so a job that asks the reports
        # whether any worker renders its template (comfyloom/gpu_fleet.py) hears this one.
        self.published = asyncio.Event()

    def update(self, report: GpuWorkerReport) -> None:
        if report.reachable:
            self._refused = {check.template for check in report.templates if not check.renders}
        elif self._refused is None:
            self._refused = set()
        self._report = report
        self._changed()

    @property
    def report(self) -> GpuWorkerReport | None:
        """The latest readiness report, with what this worker has in ComfyUI now."""
        if self._report is None:
            return None
        return self._report.model_copy(update={"rendering": list(self._in_comfyui.values())})

    def hold(self, prompt_id: str, now: RenderNow | None) -> None:
        """A prompt this worker has in ComfyUI (None: no longer), sent with the next report."""
        if now is None and self._in_comfyui.pop(prompt_id, None) is None:
            return
        if now is not None:
            if self._in_comfyui.get(prompt_id) == now:
                return
            self._in_comfyui[prompt_id] = now
        self._changed()

    def held(self) -> dict[str, RenderNow]:
        return dict(self._in_comfyui)

    def _changed(self) -> None:
        self._next.set()
        self._next = asyncio.Event()

    def next_change(self) -> asyncio.Event:
        """Set when the report after the current one is in (taken together with `report`, none is missed)."""
        return self._next

    def takes(self, template: str) -> bool:
        return self._refused is not None and template not in self._refused


def stopped_report(worker_id: str, comfyui_url: str) -> GpuWorkerReport:
    """What a worker says as it goes away, so health stops counting it now."""
    return GpuWorkerReport(
        worker_id=worker_id, comfyui_url=comfyui_url, reachable=False, checked_at=datetime.now(UTC), stopped=True
    )


async def report_forever(
    client: ComfyClient,
    events: ComfyEvents,
    worker_id: str,
    checkpoint: str,
    templates: list[Template],
    capability: Capability,
) -> None:
    """Check: every minute while all is well, every 10 s while something is wrong, and at once when ComfyUI's
    WebSocket connects or drops (ComfyUI went away or came back). `capability` learns each verdict, and the
    presence activity sends it; what changed is logged, once."""
    last_problems: list[str] | None = None
    while True:
        events.changed.clear()
        report = await check_comfyui(client, worker_id, checkpoint, templates)
        if report.problems != last_problems:
            for problem in report.problems:
                log.warning("%s", problem)
            if not report.problems:
                log.info("ComfyUI at %s has every node and model the templates need", client.base_url)
            for note in report.notes:
                log.warning("%s", note)
            last_problems = report.problems
        capability.update(report)
        every = CHECK_EVERY_SECONDS if not report.problems else RECHECK_SECONDS
        # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that lands as the change comes,
        # and the worker's stop then waits for this loop forever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await events.changed.wait()
