"""ComfyUI's own validation, ported: graphs the real ComfyUI 0.3.64 (with the design document's node packs)
refuses are refused, with ComfyUI's error types, against its recorded `/object_info`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from comfyloom.comfyui.validation import types_match, validate_prompt
from devstack.catalogue import object_info
from tests.helpers.graphs import avatar_graph

INFO = object_info(["waiNSFWIllustrious_v130.safetensors"], ["add_detail.safetensors"])
Graph = dict[str, Any]


def blend(graph: Graph, **inputs: Any) -> Graph:
    """The avatar graph with an ImageBlend (a node whose list input uses the `COMBO` form) before its preview."""
    graph["20"] = {
        "class_type": "ImageBlend",
        "inputs": {"image1": ["8", 0], "image2": ["8", 0], "blend_factor": 0.5, "blend_mode": "normal", **inputs},
    }
    graph["9"]["inputs"]["images"] = ["20", 0]
    return graph


def test_the_avatar_graph_passes_and_runs_its_preview() -> None:
    verdict = validate_prompt(avatar_graph(), INFO)
    assert verdict.ok and verdict.outputs == ["9"] and verdict.node_errors == {}


@pytest.mark.parametrize(
    ("mutate", "node", "error_type", "details"),
    [
        (lambda g: g["3"]["inputs"].pop("seed"), "3", "required_input_missing", "seed"),
        (
            lambda g: g["4"]["inputs"].update(ckpt_name="x.safetensors"),
            "4",
            "value_not_in_list",
            "ckpt_name: 'x.safetensors' not in ['waiNSFWIllustrious_v130.safetensors']",
        ),
        (lambda g: blend(g, blend_mode="burn"), "20", "value_not_in_list", "blend_mode: 'burn' not in ["),
        (
            lambda g: g["3"]["inputs"].update(sampler_name="magic"),
            "3",
            "value_not_in_list",
            "sampler_name: 'magic' not in (list of length 42)",
        ),
        (lambda g: g["5"]["inputs"].update(width=8), "5", "value_smaller_than_min", "width"),
        (lambda g: g["3"]["inputs"].update(cfg=101.0), "3", "value_bigger_than_max", "cfg"),
        (lambda g: blend(g, blend_factor=1.5), "20", "value_bigger_than_max", "blend_factor"),
        (
            lambda g: g["3"]["inputs"].update(steps="many"),
            "3",
            "invalid_input_type",
            "steps, many, invalid literal for int() with base 10: 'many'",
        ),
        (
            lambda g: g["3"]["inputs"].update(positive=["4", 1]),
            "3",
            "return_type_mismatch",
            "positive, received_type(CLIP) mismatch input_type(CONDITIONING)",
        ),
        (lambda g: g["3"]["inputs"].update(model=["4"]), "3", "bad_linked_input", "model"),
        (lambda g: g["8"]["inputs"].update(samples=["99", 0]), "8", "exception_during_inner_validation", "'99'"),
    ],
)
def test_a_graph_comfyui_refuses_is_refused_with_its_error_type(
    mutate: Callable[[Graph], Any], node: str, error_type: str, details: str
) -> None:
    graph = avatar_graph()
    mutate(graph)
    verdict = validate_prompt(graph, INFO)
    assert verdict.error is not None and verdict.error["type"] == "prompt_outputs_failed_validation"
    [error, *_] = verdict.node_errors[node]["errors"]
    assert error["type"] == error_type and error["details"].startswith(details)
    assert verdict.node_errors[node]["class_type"] == graph[node]["class_type"]
    assert verdict.node_errors[node]["dependent_outputs"] == ["9"]
    json.dumps(verdict.body)  # the 400 body serialises, as ComfyUI's does


def test_an_error_upstream_is_reported_on_its_own_node_only() -> None:
    """As ComfyUI: the nodes downstream of a bad one fail without errors of their own, and are not listed."""
    graph = avatar_graph()
    graph["5"]["inputs"]["width"] = 20000
    verdict = validate_prompt(graph, INFO)
    assert list(verdict.node_errors) == ["5"]
    assert verdict.node_errors["5"]["errors"][0]["message"] == "Value 20000 bigger than max of 16384"
    # The summary names only the outputs' own reasons: the preview has none.
    assert verdict.error is not None and verdict.error["details"] == ""


def test_an_exception_at_an_output_is_reported_as_comfyui_does() -> None:
    graph = avatar_graph()
    graph["9"]["inputs"]["images"] = ["99", 0]
    verdict = validate_prompt(graph, INFO)
    [error] = verdict.node_errors["9"]["errors"]
    assert error["type"] == "exception_during_validation" and error["message"] == "Exception when validating node"


@pytest.mark.parametrize(
    ("graph", "error_type", "message"),
    [
        ({"1": {"inputs": {}}}, "invalid_prompt", "Cannot execute because a node is missing the class_type property."),
        ({"1": {"class_type": "NoSuchNode", "inputs": {}}}, "invalid_prompt", "Cannot execute because node NoSuchNode"),
        ({"4": {"class_type": "CheckpointLoaderSimple", "inputs": {}}}, "prompt_no_outputs", "Prompt has no outputs"),
    ],
)
def test_a_graph_without_known_nodes_or_outputs_is_refused_before_its_inputs(
    graph: Graph, error_type: str, message: str
) -> None:
    verdict = validate_prompt(graph, INFO)
    assert verdict.error is not None and verdict.node_errors == {}
    assert verdict.error["type"] == error_type and verdict.error["message"].startswith(message)


def test_one_bad_output_branch_is_dropped_and_the_rest_queued() -> None:
    """ComfyUI queues a prompt with at least one good output, naming the dropped branch in `node_errors`."""
    graph = avatar_graph()
    graph["30"] = {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}}  # filename_prefix missing
    verdict = validate_prompt(graph, INFO)
    assert verdict.ok and verdict.outputs == ["9"]
    assert verdict.node_errors["30"]["errors"][0]["type"] == "required_input_missing"


def test_values_are_converted_as_comfyui_converts_them() -> None:
    """A number in a string is an INT to ComfyUI, `{"__value__": …}` is unwrapped; an optional input may be absent."""
    graph = avatar_graph()
    graph["3"]["inputs"]["steps"] = "20"
    graph["3"]["inputs"]["seed"] = {"__value__": 5}
    graph["40"] = {"class_type": "easy showAnything", "inputs": {}}
    assert validate_prompt(graph, INFO).ok
    graph["40"]["inputs"]["anything"] = ["4", 0]  # a `*` input takes any type
    assert validate_prompt(graph, INFO).ok


@pytest.mark.parametrize(
    ("received", "expected", "match"),
    [
        ("IMAGE", "IMAGE", True),
        ("IMAGE", "MASK", False),
        ("*", "MASK", True),
        ("IMAGE,MASK", "MASK", True),
        ("IMAGE, LATENT", "MASK,LATENT", True),
        ("IMAGE,LATENT", "MASK", False),
        (["a", "b"], ["a", "b"], True),
        (["a"], "COMBO", False),
    ],
)
def test_link_types_match_as_comfyui_matches_them(received: Any, expected: Any, match: bool) -> None:
    assert types_match(received, expected) is match


def test_validation_never_changes_the_graph() -> None:
    graph = avatar_graph()
    graph["3"]["inputs"]["steps"] = "20"
    before = copy.deepcopy(graph)
    validate_prompt(graph, INFO)
    assert graph == before
