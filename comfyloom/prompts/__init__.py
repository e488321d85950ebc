"""From a character's words to a Stable Diffusion prompt: safety check, Gemini extraction, per-kind builders."""
