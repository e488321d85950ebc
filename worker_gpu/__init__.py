"""The home GPU worker: polls Temporal outward and drives the ComfyUI beside it. Nothing dials in."""
