"""ComfyUI API-format graphs, each with a manifest naming the inputs a job fills in.

A graph file stays loadable in ComfyUI as it is; the manifest says which node input takes the
prompt, negative prompt, seed, size, checkpoint and filename prefix, and which nodes are final outputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel

NodeInput = tuple[str, str]


class Manifest(BaseModel):
    graph: str
    description: str = ""
    size: tuple[int, int]
    inputs: dict[str, NodeInput]
    outputs: list[str]


class RenderParams(BaseModel):
    positive: str
    negative: str
    seed: int
    width: int
    height: int
    checkpoint: str
    filename_prefix: str


class Template:
    def __init__(self, name: str, manifest: Manifest, graph: dict[str, Any]) -> None:
        self.name = name
        self.manifest = manifest
        self.graph = graph
        self.sha256 = hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()

    @property
    def class_types(self) -> set[str]:
        return {node["class_type"] for node in self.graph.values()}

    def render(self, params: RenderParams) -> dict[str, Any]:
        """A fresh graph with the job's values in place; the template itself is never mutated."""
        graph = copy.deepcopy(self.graph)
        for field, value in params.model_dump().items():
            node_id, input_name = self.manifest.inputs[field]
            graph[node_id]["inputs"][input_name] = value
        for node in graph.values():
            node.pop("_meta", None)
        return graph


class UnknownTemplate(LookupError):
    pass


@cache
def load_template(name: str) -> Template:
    folder = resources.files("comfy_templates")
    manifest_file = folder / f"{name}.manifest.json"
    if not manifest_file.is_file():
        raise UnknownTemplate(f"no ComfyUI template named {name!r}")
    manifest = Manifest.model_validate_json(manifest_file.read_text())
    missing = {"positive", "negative", "seed", "width", "height", "checkpoint", "filename_prefix"} - set(
        manifest.inputs
    )
    if missing:
        raise ValueError(f"template {name!r} manifest lacks inputs: {sorted(missing)}")
    graph = json.loads((folder / manifest.graph).read_text())
    for node_id, input_name in manifest.inputs.values():
        if input_name not in graph.get(node_id, {}).get("inputs", {}):
            raise ValueError(f"template {name!r}: node {node_id} has no input {input_name!r}")
    return Template(name, manifest, graph)
