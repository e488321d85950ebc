"""The design document's example character, as a user describes it and as Gemini reads it."""

from __future__ import annotations

# The design document's example character, described as a user would, in Portuguese.
REM_DESCRIPTION = (
    "Rem Dragneel é uma oni de 154cm, magra, com cabelo azul e olhos azuis. Tem heterocromia, "
    "a franja cobre um dos olhos e só o esquerdo fica visível. Tem um chifre na testa. É gentil e leal."
)

REM_ANSWER = {
    "gender": "female",
    "apparent_age": "adult",
    "hair": ["blue hair"],
    "eyes": ["blue eyes", "heterochromia", "left eye visible", "bang covering eye"],
    "body": ["slender", "154cm"],
    "species": ["oni"],
    "species_traits": ["horn"],
}

# The prompt the design document shows for its example character, on one line.
SEED_PROMPT = (
    "(score_9, score_8_up, score_7_up), masterpiece, best quality, ultra-detailed, "
    "cinematic lighting, (ANIME), (close-up portrait:1.2), (detailed face:1.1), "
    "looking at viewer, headshot, solo, 1girl, (Rem Dragneel:1.2), blue hair, "
    "blue eyes, heterochromia, left eye visible, bang covering eye, slender, "
    "154cm, oni, horn"
)
