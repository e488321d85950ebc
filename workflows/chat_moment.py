"""JudgeChatMoment: whether the end of a chat is worth a scene, asked of Gemini by the CPU worker for the API.

The API holds no Gemini key and no google-genai: it starts this short run and waits for its verdict
(policies.JUDGE_MOMENT_WAIT), then starts the scene itself, as any scene is started, so admission, credits and
the job's run are one path. A verdict that could not be reached (Gemini busy past its retries) is `not drawn`,
never a scene drawn from an untranslated chat.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from activities import steps
from workflows.runner import run_step

with workflow.unsafe.imports_passed_through():
    from comfyloom.contracts.chat import MomentQuestion, MomentVerdict


@workflow.defn(name="JudgeChatMoment")
class JudgeChatMomentWorkflow:
    @workflow.run
    async def run(self, question: MomentQuestion) -> MomentVerdict:
        try:
            return await run_step(steps.judge_moment, question, summary=f"chat {question.chat_id}")
        except FailureError as e:  # ActivityError; a local activity's last failure may come as it was raised
            failure = e.cause if isinstance(e, ActivityError) and isinstance(e.cause, FailureError) else e
            why = failure.message
            return MomentVerdict(outcome="judge_unavailable", reason=f"the moment could not be judged: {why}")
