"""A node's failure in ComfyUI, said so that the person who sees it can act on it.

ComfyUI reports `execution_error` with the node, its class and the Python exception. Users get a sentence
naming what to do; operators keep ComfyUI's own words (the activity's failure details, the Web UI, logs).
"""

from __future__ import annotations

from typing import Any

NO_CHARGE = "no credits were charged"

# How the exceptions real nodes raise read (torch, safetensors, pickle, ultralytics, a pack's imports).
_OUT_OF_MEMORY = ("outofmemory", "out of memory", "allocation on device")
_MODEL_UNREADABLE = (
    "filenotfounderror",
    "no such file",
    "safetensorerror",
    "error while deserializing header",
    "headertoosmall",
    "metadataincompletebuffer",
    "invalid load key",
    "unpicklingerror",
    "could not detect model type",
    "pytorchstreamreader failed",
)
_PACK_BROKEN = ("modulenotfounderror", "importerror", "no module named")


def _node(data: dict[str, Any]) -> str:
    return f"node {data.get('node_id', '?')} ({data.get('node_type', '?')})"


def operator_details(data: dict[str, Any]) -> dict[str, str]:
    """ComfyUI's own account of the failure, for the run's failure details (the Web UI) and logs."""
    keys = ("node_id", "node_type", "exception_type", "exception_message")
    return {key: str(data.get(key, "")).strip() for key in keys}


def user_sentence(data: dict[str, Any]) -> str:
    """What went wrong in words a user (or the person at the GPU machine) can act on, with the credits' fate."""
    kind = str(data.get("exception_type", ""))
    text = f"{kind} {data.get('exception_message', '')}".lower()
    squeezed = text.replace(" ", "")
    node = _node(data)
    if any(mark.replace(" ", "") in squeezed for mark in _OUT_OF_MEMORY):
        return (
            f"the GPU ran out of memory drawing this image ({node}), also after freeing memory and trying again:"
            f" close other programs using the GPU, or use a smaller size; {NO_CHARGE}"
        )
    if any(mark in text for mark in _MODEL_UNREADABLE):
        return (
            f"a model file that {node} loads is missing or unreadable on the GPU machine: download it again into"
            f" ComfyUI's models folder; {NO_CHARGE}"
        )
    if any(mark in text for mark in _PACK_BROKEN):
        return (
            f"{node} comes from a node pack whose Python packages are not installed on the GPU machine: install"
            f" the pack's requirements and restart ComfyUI; {NO_CHARGE}"
        )
    return (
        f"ComfyUI failed drawing this image: {node} raised {kind.rsplit('.', 1)[-1] or 'an error'}; the GPU"
        f" machine's ComfyUI log says why; {NO_CHARGE}"
    )


def interrupted_sentence(node_id: Any) -> str:
    return (
        f"the render was stopped in ComfyUI at node {node_id} (interrupted at the GPU machine, or ComfyUI was"
        f" stopped); start the job again; {NO_CHARGE}"
    )
