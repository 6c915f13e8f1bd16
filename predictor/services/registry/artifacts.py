"""The ONE place that writes and reads artifact files: atomic writes, sha256, a cache."""

import hashlib
import io
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import joblib
from django.conf import settings

from predictor.models import ModelVersion
from predictor.services.errors import ArtifactIntegrityError
from predictor.services.registry import trusted_types

FORMATS = ("joblib", "skops", "onnx")

_cache: "OrderedDict[str, object]" = OrderedDict()
_cache_lock = threading.Lock()
# Counts real loads from disk; tests and metrics read it to prove the cache works.
load_count = 0


@dataclass(frozen=True)
class StoredArtifact:
    name: str
    sha256: str
    size_bytes: int
    format: str


def _root() -> Path:
    root = Path(settings.ARTIFACT_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return root


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_store_bytes(*, data: bytes, fmt: str) -> StoredArtifact:
    """Write bytes to the store under their own hash, atomically (temp file + rename)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown artifact format {fmt!r}")
    digest = sha256_bytes(data)
    root = _root()
    name = f"{digest}.{fmt}"
    target = root / name
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".tmp-", suffix=f".{fmt}")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return StoredArtifact(name=name, sha256=digest, size_bytes=len(data), format=fmt)


def artifact_save(*, obj) -> StoredArtifact:
    """Serialise a fitted pipeline with joblib and store it."""
    buffer = io.BytesIO()
    joblib.dump(obj, buffer, compress=3)
    return artifact_store_bytes(data=buffer.getvalue(), fmt="joblib")


def artifact_discard(names) -> None:
    """Remove stored files no version refers to (what a stopped job wrote)."""
    for name in filter(None, names):
        used = (
            ModelVersion.objects.filter(artifact=name).exists()
            or ModelVersion.objects.filter(compiled_artifact=name).exists()
        )
        if not used:
            _path_in_store(name).unlink(missing_ok=True)


def _path_in_store(name: str) -> Path:
    root = _root().resolve()
    path = (root / name).resolve()
    if path.parent != root or name.startswith("."):
        raise ArtifactIntegrityError(
            f"artifact {name!r} is not in the artifact store", fault="not in the store"
        )
    return path


def artifact_read_verified(*, name: str, sha256: str) -> bytes:
    """The artifact's bytes, after checking they hash to the recorded sha256."""
    path = _path_in_store(name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(
            f"artifact {name!r} is missing from the store", fault="artifact missing"
        ) from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"artifact {name!r} does not match its recorded sha256 "
            f"(expected {sha256[:12]}…, found {actual[:12]}…): refusing to load it",
            fault="hash mismatch",
        )
    return data


def skops_types(data: bytes) -> set[str]:
    """Every type a skops file names, read from its schema without constructing anything.

    skops builds a tree of nodes from `schema.json` (no import, no instance); each node is
    audited here against the service's allow-list, not against skops' own defaults.
    """
    from skops.io._audit import get_tree
    from skops.io._utils import read_schema

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema, context = read_schema(archive)
            root = get_tree(schema, context, trusted=None)
    except Exception as exc:  # a malformed archive or schema: unreadable, whatever the cause
        raise ArtifactIntegrityError(
            f"not a readable skops file: {exc}", fault="unreadable"
        ) from None
    allowed = sorted(trusted_types.trusted_types())
    named = set()
    for node in _nodes(root):
        node.trusted = allowed  # judge every node by the service's list, not skops' defaults
        named.add(f"{node.module_name}.{node.class_name}")
    # The nodes' own audit adds what only they know (a bound method names itself there).
    return named | root.get_unsafe_set()


def _nodes(root):
    from skops.io._audit import Node

    seen, stack = set(), [root]
    while stack:
        item = stack.pop()
        if isinstance(item, Node):
            if id(item) not in seen:
                seen.add(id(item))
                yield item
                stack.extend(item.children.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())


def skops_check(data: bytes) -> list[str]:
    """The file's types, all on the allow-list; else ArtifactIntegrityError naming the rest."""
    found = skops_types(data)
    refused = trusted_types.refused_types(found)
    if refused:
        raise ArtifactIntegrityError(
            "the skops file holds types outside the server's allow-list: " + ", ".join(refused),
            fault="type not allowed",
            refused=refused,
        )
    return sorted(found)


def skops_loads(data: bytes):
    """Load a skops file whose every type passed `skops_check`; nothing runs before that."""
    import skops.io as sio

    trusted = skops_check(data)
    try:
        obj = sio.loads(data, trusted=trusted)
    except Exception as exc:  # any file skops cannot rebuild is refused
        raise ArtifactIntegrityError(
            f"the skops file could not be loaded: {exc}", fault="unreadable"
        ) from None
    trees_check(obj)
    return obj


def trees_check(obj) -> None:
    """Refuse decision trees whose node indices point outside the tree.

    scikit-learn follows a tree's child and feature indices without bounds checks, so a
    crafted one could crash the process at the first prediction.
    """
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.tree._tree import Tree

    seen, stack = set(), [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, Tree):
            n = item.node_count
            children = np.concatenate([item.children_left, item.children_right])
            features = item.feature
            leaf = item.children_left == -1
            if (
                ((children != -1) & ((children < 0) | (children >= n))).any()
                or ((~leaf) & ((features < 0) | (features >= item.n_features))).any()
                or item.value.shape[0] != n
            ):
                raise ArtifactIntegrityError(
                    "the model holds a decision tree whose node indices are out of range",
                    fault="type not allowed",
                )
        elif isinstance(item, BaseEstimator):
            stack.extend(vars(item).values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, np.ndarray) and item.dtype == object:
            stack.extend(item.ravel().tolist())


def onnx_session(data: bytes):
    """An ONNX Runtime session on one thread: a server process runs many requests at once,
    and one thread keeps a forest's sums in scikit-learn's order."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # an unreadable model: refused, whatever the cause
        raise ArtifactIntegrityError(
            f"the ONNX model could not be loaded: {exc}", fault="unreadable"
        ) from None


def _deserialise(data: bytes, fmt: str):
    if fmt == "joblib":
        return joblib.load(io.BytesIO(data))
    if fmt == "skops":
        return skops_loads(data)
    if fmt == "onnx":
        return onnx_session(data)
    raise ArtifactIntegrityError(f"unknown artifact format {fmt!r}", fault="unknown format")


def artifact_load(*, name: str, sha256: str, fmt: str = "joblib"):
    """Load a stored artifact (hash-checked), cached in this process by its sha256."""
    global load_count
    with _cache_lock:
        if sha256 in _cache:
            _cache.move_to_end(sha256)
            return _cache[sha256]
    data = artifact_read_verified(name=name, sha256=sha256)
    obj = _deserialise(data, fmt)
    with _cache_lock:
        load_count += 1
        _cache[sha256] = obj
        while len(_cache) > settings.MODEL_CACHE_SIZE:
            _cache.popitem(last=False)
    return obj


_checked: set[str] = set()


def artifact_check(*, name: str, sha256: str) -> None:
    """The file is in the store and hashes to its sha256 (read once per process)."""
    if sha256 in _checked:
        return
    artifact_read_verified(name=name, sha256=sha256)
    with _cache_lock:
        _checked.add(sha256)


def artifact_verify(*, name: str, sha256: str, fmt: str = "joblib") -> None:
    """Load an artifact as serving would (hash, allow-list), without caching it."""
    _deserialise(artifact_read_verified(name=name, sha256=sha256), fmt)


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
        _checked.clear()
