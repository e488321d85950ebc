"""ComfyUI API-format graphs, each with a manifest naming the inputs a job fills in.

A graph file stays loadable in ComfyUI as it is; the manifest says which node input takes the
prompt, negative prompt, seed and size (and, where the graph has them, the checkpoint and a filename
prefix), and which nodes are final outputs.
"""

from __future__ import annotations

import copy
import hashlib
import json
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel

from comfyloom.contracts.domain import Background, ImageKind, Lora
from comfyloom.kinds import KINDS
from comfyloom.settings import Settings

NodeInput = tuple[str, str]

# The node pack releases the stock templates are written for, and validated against in the suite (the recorded
# catalogue in devstack/catalogues). Another release may add or drop inputs: `worker-gpu --check` says so.
SUPPORTED_PACKS = {"ComfyUI-Impact-Pack": "7.10.x", "ComfyUI-Impact-Subpack": "1.3.x", "ComfyUI-Easy-Use": "1.3.x"}


class Manifest(BaseModel):
    graph: str
    description: str = ""
    size: tuple[int, int]
    # Other sizes a request may ask for (scenes); the checkpoint's training buckets, all near one megapixel.
    sizes: list[tuple[int, int]] = []
    # What the final output's background is: kept, a solid key colour to cut out, or already transparent.
    background: Background = "opaque"
    inputs: dict[str, NodeInput]
    outputs: list[str]
    # Where the checkpoint's MODEL and CLIP come out: a LoRA chain is inserted right after.
    lora_anchor: dict[Literal["model", "clip"], tuple[str, int]]

    @property
    def allowed_sizes(self) -> list[tuple[int, int]]:
        return [self.size, *(s for s in self.sizes if s != self.size)]


# Inputs every manifest names; the others (OPTIONAL_INPUTS) only where the graph has such a node: a graph
# that loads no checkpoint with CheckpointLoaderSimple, or previews instead of saving, leaves them out.
REQUIRED_INPUTS = {"positive", "negative", "seed", "width", "height"}
OPTIONAL_INPUTS = {"checkpoint", "filename_prefix"}


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

    def sample_params(self, checkpoint: str) -> RenderParams:
        """Values a job could fill in, at the manifest's size: to validate the template before any job."""
        width, height = self.manifest.size
        return RenderParams(
            positive="1girl, portrait",
            negative="lowres",
            seed=1,
            width=width,
            height=height,
            checkpoint=checkpoint,
            filename_prefix=f"comfyloom/check_{self.name}",
        )

    def render(self, params: RenderParams, loras: list[Lora] | None = None) -> dict[str, Any]:
        """A fresh graph with the job's values in place; the template itself is never mutated."""
        graph = copy.deepcopy(self.graph)
        for field, value in params.model_dump().items():
            if field not in self.manifest.inputs:
                continue  # an optional input this graph has no node for
            node_id, input_name = self.manifest.inputs[field]
            graph[node_id]["inputs"][input_name] = value
        for node in graph.values():
            node.pop("_meta", None)
        if loras:
            self._chain_loras(graph, loras)
        return graph

    def input_value(self, graph: dict[str, Any], field: str) -> Any:
        """What a rendered graph holds for one manifest input, e.g. the checkpoint ComfyUI ran (None without)."""
        if field not in self.manifest.inputs:
            return None
        node_id, input_name = self.manifest.inputs[field]
        return graph.get(node_id, {}).get("inputs", {}).get(input_name)

    def _chain_loras(self, graph: dict[str, Any], loras: list[Lora]) -> None:
        anchor_model = list(self.manifest.lora_anchor["model"])
        anchor_clip = list(self.manifest.lora_anchor["clip"])
        next_id = max(int(n) for n in graph if n.isdigit()) + 1
        model, clip = anchor_model, anchor_clip
        chain: set[str] = set()
        for lora in loras:
            node_id = str(next_id)
            next_id += 1
            graph[node_id] = {
                "class_type": "LoraLoader",
                "inputs": {
                    "lora_name": lora.name,
                    "strength_model": lora.strength_model,
                    "strength_clip": lora.strength_clip,
                    "model": model,
                    "clip": clip,
                },
            }
            chain.add(node_id)
            model, clip = [node_id, 0], [node_id, 1]
        for node_id, node in graph.items():
            if node_id in chain:
                continue
            for name, value in node["inputs"].items():
                if value == anchor_model:
                    node["inputs"][name] = model
                elif value == anchor_clip:
                    node["inputs"][name] = clip


class UnknownTemplate(LookupError):
    pass


def template_names() -> list[str]:
    folder = resources.files("comfy_templates")
    return sorted(f.name.removesuffix(".manifest.json") for f in folder.iterdir() if f.name.endswith(".manifest.json"))


@cache
def load_template(name: str) -> Template:
    folder = resources.files("comfy_templates")
    manifest_file = folder / f"{name}.manifest.json"
    if not manifest_file.is_file():
        raise UnknownTemplate(f"no ComfyUI template named {name!r}")
    manifest = Manifest.model_validate_json(manifest_file.read_text())
    missing = REQUIRED_INPUTS - set(manifest.inputs)
    if missing:
        raise ValueError(f"template {name!r} manifest lacks inputs: {sorted(missing)}")
    graph = json.loads((folder / manifest.graph).read_text())
    for node_id, input_name in manifest.inputs.values():
        if input_name not in graph.get(node_id, {}).get("inputs", {}):
            raise ValueError(f"template {name!r}: node {node_id} has no input {input_name!r}")
    return Template(name, manifest, graph)


def template_for(kind: ImageKind, settings: Settings) -> Template:
    """The template that renders `kind` here, as its spec chooses (stickers by STICKER_BACKGROUND_REMOVAL...)."""
    return load_template(KINDS[kind].template(settings))


def active_templates(settings: Settings) -> list[Template]:
    """The templates this deployment renders with: the ones a GPU worker's ComfyUI must be able to run."""
    return [template_for(kind, settings) for kind in ImageKind]
