"""How each run ended, by kind and outcome, on the CPU worker's Prometheus endpoint."""

from __future__ import annotations

from temporalio import workflow


def record_outcome(kind: str, outcome: str, reason: str | None = None) -> None:
    """How long the run took, by kind and outcome, and why it failed: on the worker's Prometheus endpoint.
    Replay-safe: the SDK's workflow meter records nothing while a history is replayed."""
    meter = workflow.metric_meter()
    elapsed = workflow.now() - workflow.info().start_time
    meter.create_histogram_timedelta(
        "comfyloom_generation_duration", "From workflow start to its end", unit="duration"
    ).record(elapsed, {"kind": kind, "outcome": outcome})
    if reason is not None:
        meter.create_counter("comfyloom_generation_failures", "Runs that failed or were cancelled").add(
            1, {"kind": kind, "reason": reason}
        )
