"""The HTTP API: starts workflows and reads their state. It never touches ComfyUI."""
