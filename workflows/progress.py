"""The `progress` query every workflow answers (the API's status reads it), mirrored for operators.

Each stage also goes to the run's `JobStatus` search attribute and its current details, so the
Temporal Web UI can list runs by stage and shows where each one is.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from comfyloom import search
    from comfyloom.contracts.domain import Stage
    from comfyloom.contracts.progress import Progress


def searchable() -> bool:
    """Whether this run was started with comfyloom's search attributes (the namespace has them)."""
    return workflow.info().typed_search_attributes.get(search.USER_ID) is not None


class ReportsProgress:
    def __init__(self) -> None:
        self._progress = Progress(stage=Stage.queued, passed=[Stage.queued])

    @workflow.query
    def progress(self) -> Progress:
        return self._progress

    def _stage(self, stage: Stage, *, result_url: str | None = None, error: str | None = None) -> None:
        passed = [*self._progress.passed, stage]
        self._progress = Progress(stage=stage, result_url=result_url, error=error, passed=passed)
        workflow.set_current_details(f"{stage.value}: {error}" if error else stage.value)
        if searchable():
            workflow.upsert_search_attributes([search.JOB_STATUS.value_set(stage.value)])
