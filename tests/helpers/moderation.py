"""Classifiers named by MODERATION_MODEL in tests: the swap an operator makes, and a step that fails once."""

from __future__ import annotations

from PIL import Image

calls = 0


class FailsOnce:
    """Raises on its first image (as a model's runtime might), then scores everything safe."""

    name = "fails-once"

    def score(self, image: Image.Image) -> float:
        global calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the classifier's runtime failed")
        return 0.01


def fails_once() -> FailsOnce:
    return FailsOnce()
