"""ComfyUI: the HTTP + WebSocket client the GPU worker uses, and a simulator speaking the same protocol."""
