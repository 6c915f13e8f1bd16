"""The server's own check of what the import sandbox answered, before anything is stored.

The sandbox's answer is data from a process that opened a hostile file, so it is checked
like any outside input: each field of the expected type and size, and the ONNX graph
itself — standard operator domains only (no custom operator library), no tensor whose data
lives in an external file (a path the runtime would open), loadable by ONNX Runtime, and
answering a typical row of the declared schema.
"""

from __future__ import annotations

import base64
import binascii
import math

from predictor.models import IMPORTED_PREFIX, Task
from predictor.services.errors import ArtifactIntegrityError, InvalidInput
from predictor.services.registry import artifacts
from predictor.services.schema import example_record

ONNX_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
MAX_ONNX_BYTES = 512 * 1024**2


def _refused(why: str) -> InvalidInput:
    return InvalidInput(f"the model file was refused: {why}", field="file")


def graph_check(*, data: bytes) -> None:
    """Standard domains, no external data: ArtifactIntegrityError otherwise."""
    import onnx

    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # not a graph onnx can read
        raise ArtifactIntegrityError(f"not an ONNX graph ({exc})", fault="unreadable") from None
    domains = {op.domain for op in model.opset_import} | {node.domain for node in model.graph.node}
    other = sorted(d for d in domains if d not in ONNX_DOMAINS)
    if other or model.functions:
        raise ArtifactIntegrityError(
            f"the ONNX graph uses operators outside the standard domains: {other}",
            fault="unreadable",
        )
    tensors = list(model.graph.initializer) + [
        attr.t for node in model.graph.node for attr in node.attribute if attr.HasField("t")
    ]
    if any(t.data_location == onnx.TensorProto.EXTERNAL or t.external_data for t in tensors):
        raise ArtifactIntegrityError("the ONNX graph names external data files", fault="unreadable")
    if any(
        node.attribute and any(a.g.node or a.graphs for a in node.attribute)
        for node in model.graph.node
    ):
        raise ArtifactIntegrityError("the ONNX graph holds subgraphs", fault="unreadable")


def _scalar(value) -> bool:
    return isinstance(value, (str, int, bool)) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _importance(value) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 1000:
        raise _refused("the sandbox's explanation is malformed")
    clean = []
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("label"), str)
            and all(isinstance(item.get(k), (int, float)) for k in ("value", "pct"))
        ):
            raise _refused("the sandbox's explanation is malformed")
        clean.append(
            {"label": item["label"][:200], "value": float(item["value"]), "pct": float(item["pct"])}
        )
    return clean


def answer_checked(*, answer: dict, schema: list[dict], task: str) -> dict:
    """The answer's fields, each checked; the ONNX graph decoded, checked and tried."""
    from predictor.services.serving.runtime import OnnxRuntime

    algorithm = answer.get("algorithm")
    if not (isinstance(algorithm, str) and algorithm.startswith(IMPORTED_PREFIX)):
        raise _refused("the sandbox's answer is malformed")
    classes = answer.get("classes")
    if task == Task.CLASSIFICATION:
        if not (isinstance(classes, list) and classes and all(map(_scalar, classes))):
            raise _refused("the sandbox's answer has no classes")
    else:
        classes = None
    for name in ("params", "metrics", "audit"):
        if not isinstance(answer.get(name), dict):
            raise _refused(f"the sandbox's answer has no {name}")
    if answer.get("format") not in ("skops", "joblib"):
        raise _refused("the sandbox's answer names no file format")
    encoded = answer.get("onnx")
    if not isinstance(encoded, str) or len(encoded) > MAX_ONNX_BYTES * 4 // 3 + 4:
        raise _refused("the sandbox's answer has no ONNX graph")
    try:
        data = base64.b64decode(encoded, validate=True)
        graph_check(data=data)
        runtime = OnnxRuntime(
            artifacts.onnx_session(data=data), schema=schema, task=task, classes=classes
        )
        runtime.predict([example_record(schema=schema)])
    except (binascii.Error, ValueError):
        raise _refused("the sandbox's ONNX graph is not base64") from None
    except ArtifactIntegrityError as exc:
        raise _refused(exc.message) from None
    except Exception as exc:  # a graph that fails on a typical row does not serve
        raise _refused(f"its ONNX graph failed on a typical row ({type(exc).__name__})") from None
    return {
        "format": answer["format"],
        "algorithm": algorithm[:50],
        "params": answer["params"],
        "classes": classes,
        "metrics": answer["metrics"],
        "audit": answer["audit"],
        "importance": _importance(answer.get("importance")),
        "onnx": data,
        "runtime_note": str(answer.get("runtime_note", "ONNX, verified"))[:300],
    }
