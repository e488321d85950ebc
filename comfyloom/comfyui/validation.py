"""ComfyUI's own check of an API-format graph, against an `/object_info` document.

A port of `validate_prompt` / `validate_inputs` in ComfyUI's `execution.py` (0.3.64): same checks, same
order, same error types, messages and 400 body. The simulator answers `POST /prompt` with it, and the GPU
worker runs it before any job, so a template ComfyUI would refuse is known to be refused before it costs
anyone anything.

What `/object_info` cannot tell: a node's own `VALIDATE_INPUTS` (a few custom nodes loosen or tighten
their checks with one). This port treats every node as having none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Graph = dict[str, Any]
ObjectInfo = dict[str, Any]
Error = dict[str, Any]


@dataclass
class Verdict:
    """What ComfyUI would answer: `error` set means a 400 with `body`; else queued, running `outputs`."""

    outputs: list[str] = field(default_factory=list)
    error: Error | None = None
    node_errors: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def body(self) -> dict[str, Any]:
        return {"error": self.error, "node_errors": self.node_errors}


def comfy_error(kind: str, message: str, details: str = "", extra: dict[str, Any] | None = None) -> Error:
    """One error as ComfyUI words it in a 400 body or in `node_errors`."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


def types_match(received: Any, expected: Any) -> bool:
    """ComfyUI's `validate_node_input`, not strict: `*` is any type, "A,B" is either."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return "*" in got or "*" in want or bool(got & want)


def combo_options(input_type: Any, extra: dict[str, Any]) -> list[Any] | None:
    """The values a list input takes, in either form ComfyUI 0.3.64 uses: `[[...], {...}]` or
    `["COMBO", {"options": [...]}]`; None for any other input."""
    if isinstance(input_type, list):
        return input_type
    if input_type == "COMBO":
        options = extra.get("options", [])
        return options if isinstance(options, list) else []
    return None


# Shipped with ComfyUI itself, though it lives in custom_nodes/.
BUILT_IN_CUSTOM_NODES = {"custom_nodes.websocket_image_save"}


def pack_of(node: dict[str, Any]) -> str | None:
    """The custom node pack a class comes from (its `python_module`), None for ComfyUI's own nodes."""
    module = str(node.get("python_module", ""))
    if not module.startswith("custom_nodes.") or module in BUILT_IN_CUSTOM_NODES:
        return None
    return module.removeprefix("custom_nodes.").split(".")[0].split("@")[0]


def packs_in(info: ObjectInfo) -> dict[str, int]:
    """The custom node packs a ComfyUI has loaded, with how many node classes each brought."""
    found: dict[str, int] = {}
    for node in info.values():
        if (pack := pack_of(node)) is not None:
            found[pack] = found.get(pack, 0) + 1
    return dict(sorted(found.items()))


_CONVERT = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


class _Checker:
    def __init__(self, graph: Graph, info: ObjectInfo) -> None:
        self.graph, self.info = graph, info
        self.validated: dict[str, tuple[bool, list[Error], str]] = {}

    def node(self, node_id: str) -> tuple[bool, list[Error], str]:
        """`validate_inputs`: an exception (a link to a node or output that is not there) propagates, as
        ComfyUI's does, to be reported by the caller."""
        if node_id in self.validated:
            return self.validated[node_id]
        node = self.graph[node_id]
        inputs = node.get("inputs", {})
        declared = self.info[node["class_type"]]["input"]
        required = declared.get("required") or {}
        specs = {**(declared.get("optional") or {}), **required}
        errors: list[Error] = []
        valid = True
        for name in (*required, *(n for n in specs if n not in required)):
            spec = specs[name]
            input_type = spec[0]
            extra = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            config = [input_type, extra]
            if name not in inputs:
                if name in required:
                    errors.append(
                        comfy_error("required_input_missing", "Required input is missing", name, {"input_name": name})
                    )
                continue
            value = inputs[name]
            if isinstance(value, list):
                if len(value) != 2:
                    errors.append(
                        comfy_error(
                            "bad_linked_input",
                            "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            name,
                            {"input_name": name, "input_config": config, "received_value": value},
                        )
                    )
                    continue
                source_id, slot = value
                received = self.info[self.graph[source_id]["class_type"]]["output"][slot]
                if not types_match(received, input_type):
                    errors.append(
                        comfy_error(
                            "return_type_mismatch",
                            "Return type mismatch between linked nodes",
                            f"{name}, received_type({received}) mismatch input_type({input_type})",
                            {
                                "input_name": name,
                                "input_config": config,
                                "received_type": received,
                                "linked_node": value,
                            },
                        )
                    )
                    continue
                try:
                    if not self.node(source_id)[0]:
                        valid = False
                except Exception as ex:
                    valid = False
                    self.validated[source_id] = (
                        False,
                        [
                            comfy_error(
                                "exception_during_inner_validation",
                                "Exception when validating inner node",
                                str(ex),
                                {
                                    "input_name": name,
                                    "input_config": config,
                                    "exception_message": str(ex),
                                    "exception_type": type(ex).__name__,
                                    "linked_node": value,
                                },
                            )
                        ],
                        source_id,
                    )
                continue
            if isinstance(value, dict) and "__value__" in value:
                value = value["__value__"]
            try:
                convert = _CONVERT.get(input_type) if isinstance(input_type, str) else None
                if convert is not None:
                    value = convert(value)
            except Exception as ex:
                errors.append(
                    comfy_error(
                        "invalid_input_type",
                        f"Failed to convert an input value to a {input_type} value",
                        f"{name}, {value}, {ex}",
                        {
                            "input_name": name,
                            "input_config": config,
                            "received_value": value,
                            "exception_message": str(ex),
                        },
                    )
                )
                continue
            limits = {"input_name": name, "input_config": config, "received_value": value}
            if "min" in extra and value < extra["min"]:
                errors.append(
                    comfy_error(
                        "value_smaller_than_min", f"Value {value} smaller than min of {extra['min']}", name, limits
                    )
                )
                continue
            if "max" in extra and value > extra["max"]:
                errors.append(
                    comfy_error(
                        "value_bigger_than_max", f"Value {value} bigger than max of {extra['max']}", name, limits
                    )
                )
                continue
            options = combo_options(input_type, extra)
            if options is not None and value not in options:
                shown = f"(list of length {len(options)})" if len(options) > 20 else str(options)
                errors.append(
                    comfy_error(
                        "value_not_in_list",
                        "Value not in list",
                        f"{name}: '{value}' not in {shown}",
                        {
                            "input_name": name,
                            "input_config": None if len(options) > 20 else config,
                            "received_value": value,
                        },
                    )
                )
        result = (not errors and valid, errors, node_id)
        self.validated[node_id] = result
        return result


def validate_prompt(graph: Any, info: ObjectInfo) -> Verdict:
    """What ComfyUI's `POST /prompt` would say of `graph`: a 400 (`error` set) or the outputs it runs, with
    `node_errors` for output branches it dropped either way."""
    if not isinstance(graph, dict):
        return Verdict(error=comfy_error("invalid_prompt", "Prompt is not a dict"))
    outputs: list[str] = []
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return Verdict(
                error=comfy_error(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                )
            )
        class_type = node["class_type"]
        if class_type not in info:
            return Verdict(
                error=comfy_error(
                    "invalid_prompt",
                    f"Cannot execute because node {class_type} does not exist.",
                    f"Node ID '#{node_id}'",
                )
            )
        if info[class_type].get("output_node") is True:
            outputs.append(node_id)
    if not outputs:
        return Verdict(error=comfy_error("prompt_no_outputs", "Prompt has no outputs"))

    checker = _Checker(graph, info)
    good: list[str] = []
    failed: list[tuple[str, list[Error]]] = []
    node_errors: dict[str, Any] = {}
    for output in outputs:
        try:
            valid, reasons, _ = checker.node(output)
        except Exception as ex:
            valid = False
            reasons = [
                comfy_error(
                    "exception_during_validation",
                    "Exception when validating node",
                    str(ex),
                    {"exception_type": type(ex).__name__},
                )
            ]
            checker.validated[output] = (False, reasons, output)
        if valid:
            good.append(output)
            continue
        if reasons:
            failed.append((output, reasons))
        # Nodes downstream of a failed one fail too, with no reason of their own: only the ones with reasons
        # are reported, each with every output that depends on it.
        for node_id, (ok, node_reasons, _) in checker.validated.items():
            if not ok and node_reasons:
                entry = node_errors.setdefault(
                    node_id,
                    {"errors": node_reasons, "dependent_outputs": [], "class_type": graph[node_id]["class_type"]},
                )
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, reasons in failed for e in reasons)
        return Verdict(
            error=comfy_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details),
            node_errors=node_errors,
        )
    return Verdict(outputs=good, node_errors=node_errors)


def explain(verdict: Verdict, graph: Graph, info: ObjectInfo, template: str, *, supported: dict[str, str]) -> list[str]:
    """Why ComfyUI would refuse `template`, one sentence per error, naming the node, the input and the pack to
    look at (`supported`: the pack releases the templates are written for)."""
    if verdict.error is not None and not verdict.node_errors:
        return [f"{template}: ComfyUI refuses the graph: {verdict.error['message']} ({verdict.error['details']})"]
    sentences = []
    for node_id, entry in verdict.node_errors.items():
        class_type = entry["class_type"]
        pack = pack_of(info.get(class_type, {}))
        owner = f"{pack} ({supported[pack]} supported)" if pack in supported else pack or "ComfyUI"
        where = f"{template}: {class_type} (node {node_id})"
        for error in entry["errors"]:
            extra = error.get("extra_info") or {}
            name = extra.get("input_name", error["details"])
            value = extra.get("received_value", graph.get(node_id, {}).get("inputs", {}).get(name))
            match error["type"]:
                case "required_input_missing":
                    sentences.append(
                        f"{where} needs input {name}, which the template does not set: {owner} is newer or older"
                        " than the template"
                    )
                case "value_not_in_list":
                    sentences.append(
                        f"{where} input {name} is {value!r}, which this ComfyUI does not offer ({error['details']});"
                        " model file missing?"
                    )
                case "value_smaller_than_min" | "value_bigger_than_max" | "invalid_input_type":
                    sentences.append(f"{where} input {name}: {error['message']}: {owner} changed what it accepts")
                case "return_type_mismatch":
                    sentences.append(
                        f"{where} input {name}: {error['details']}: {owner} changed the node's inputs or outputs"
                    )
                case _:
                    sentences.append(f"{where}: {error['message']}: {error['details']}")
    return sentences
