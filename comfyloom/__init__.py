"""comfyloom: durable ComfyUI image generation for character apps, driven by Temporal."""

__version__ = "0.1.0"
