"""The `progress` query every workflow answers; the API's status reads it (api/progress.py)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts import Progress, Stage


class ReportsProgress:
    def __init__(self) -> None:
        self._progress = Progress(stage=Stage.queued, passed=[Stage.queued])

    @workflow.query
    def progress(self) -> Progress:
        return self._progress

    def _stage(self, stage: Stage, *, result_url: str | None = None, error: str | None = None) -> None:
        passed = [*self._progress.passed, stage]
        self._progress = Progress(stage=stage, result_url=result_url, error=error, passed=passed)
