"""judge_moment: Gemini reads the end of a chat and says whether it shows a moment worth drawing, and as what.

The API asks before it starts anything, so a moment not drawn is charged nothing. Gemini busy is asked again by
this activity's retry policy; past it, with no key, or with an answer that cannot be used, the verdict is
`judge_unavailable`: an automatic scene is never drawn from an untranslated chat. Gemini's reading is screened as a
scene's prompt is (its tags through the blocklist, its own judgement of age and sexual content).
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from temporalio import activity

from comfyloom.contracts.chat import MomentQuestion, MomentVerdict
from comfyloom.contracts.prompt import PromptTags
from comfyloom.db import characters, refusals
from comfyloom.errors import ErrorType, failure
from comfyloom.prompts import safety
from comfyloom.prompts.screening import screen
from comfyloom.prompts.translate import TranslationBusy, TranslationFailed, TranslationRefused, translator_for
from comfyloom.settings import Settings

NO_KEY = "GEMINI_API_KEY is not set, and automatic scenes are judged by Gemini: none is drawn"


def unavailable(reason: str) -> MomentVerdict:
    return MomentVerdict(outcome="judge_unavailable", reason=f"the moment could not be judged: {reason}")


class MomentActivities:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._translator = translator_for(pool, settings)

    async def _refused(self, question: MomentQuestion, refusal: safety.Refusal) -> MomentVerdict:
        prompt = question.prompt
        await refusals.record(self._pool, refusal, user_id=prompt.user_id, kind=prompt.kind.value, stage="prompt")
        activity.logger.warning("chat %s of %s refused: %s", question.chat_id, prompt.user_id, refusal.reason)
        return MomentVerdict(outcome="content_refused", reason=f"refused: {refusal.reason}")

    @activity.defn(name="judge_moment")
    async def judge_moment(self, question: MomentQuestion) -> MomentVerdict:
        """Raises:
        ApplicationError: GeminiBusy, to be asked again after the delay Gemini gives."""
        verdict = await self._judge(question)
        activity.metric_meter().create_counter(
            "comfyloom_chat_moments", "Chat moments judged for an automatic scene, by verdict"
        ).add(1, {"outcome": verdict.outcome})
        return verdict

    async def _judge(self, question: MomentQuestion) -> MomentVerdict:
        if self._translator is None:
            return unavailable(NO_KEY)
        try:
            judged = await self._translator.moment(question.source)
        except TranslationBusy as e:
            delay = timedelta(seconds=e.retry_after) if e.retry_after else None
            raise failure(ErrorType.gemini_busy, str(e), next_retry_delay=delay) from e
        except TranslationFailed as e:
            return unavailable(str(e))
        except TranslationRefused as e:
            return await self._refused(question, safety.Refusal(reason=str(e), fields=[], matched=[]))
        prompt = question.prompt
        cast = [row for c in prompt.character_ids if (row := await characters.get_character(self._pool, c))]
        tags = PromptTags(scene=judged.scene)
        if refusal := screen(prompt, cast, blocklist=self._settings.content_blocklist, tags=tags):
            return await self._refused(question, refusal)
        why = judged.reason.strip()
        if not judged.worth_drawing:
            return MomentVerdict(outcome="small_talk", reason=why or "nothing in the latest messages to draw")
        if judged.same_as_last_scene:
            return MomentVerdict(outcome="same_moment", reason=why or "the chat's last scene already shows this")
        return MomentVerdict(outcome="drawn", reason=why or "a new moment", scene=judged.scene)
