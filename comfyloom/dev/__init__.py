"""Tools beside the library: the `comfyloom` command, the dev stack and its local parts, the demo, operator
commands, and the ComfyUI simulator. The only part of `comfyloom` that may import the workers."""
