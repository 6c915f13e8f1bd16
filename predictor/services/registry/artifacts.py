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


def sha256_bytes(*, data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifact_store_bytes(*, data: bytes, fmt: str) -> StoredArtifact:
    """Write bytes to the store under their own hash, atomically (temp file + rename)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown artifact format {fmt!r}")
    digest = sha256_bytes(data=data)
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


def artifact_discard(*, names) -> None:
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
    actual = sha256_bytes(data=data)
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"artifact {name!r} does not match its recorded sha256 "
            f"(expected {sha256[:12]}…, found {actual[:12]}…): refusing to load it",
            fault="hash mismatch",
        )
    return data


def skops_types(*, data: bytes) -> set[str]:
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


def skops_check(*, data: bytes) -> list[str]:
    """The file's types, all on the allow-list; else ArtifactIntegrityError naming the rest.
    The archive's size is checked first: its schema is read, nothing is built."""
    skops_archive_check(
        data=data,
        max_uncompressed=settings.SANDBOX_MAX_UNCOMPRESSED_BYTES,
        max_ratio=settings.SANDBOX_MAX_COMPRESSION_RATIO,
    )
    found = skops_types(data=data)
    refused = trusted_types.refused_types(type_names=found)
    if refused:
        raise ArtifactIntegrityError(
            "the skops file holds types outside the server's allow-list: " + ", ".join(refused),
            fault="type not allowed",
            refused=refused,
        )
    return sorted(found)


def skops_archive_check(*, data: bytes, max_uncompressed: int, max_ratio: int) -> None:
    """A skops zip's unpacked size and compression ratio, read from its directory alone
    (before anything is extracted); ArtifactIntegrityError past either limit."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ArtifactIntegrityError(
            f"not a readable skops file: {exc}", fault="unreadable"
        ) from None
    total = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if total > max_uncompressed:
        raise ArtifactIntegrityError(
            f"the file unpacks to {total:,} bytes; the limit is {max_uncompressed:,} "
            "(SANDBOX_MAX_UNCOMPRESSED_BYTES)",
            fault="too large",
        )
    if total > 1_000_000 and total / packed > max_ratio:
        raise ArtifactIntegrityError(
            f"the file unpacks to {total / packed:,.0f} times its packed size; the limit is "
            f"{max_ratio:,} (SANDBOX_MAX_COMPRESSION_RATIO)",
            fault="too large",
        )


def onnx_session(*, data: bytes):
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
        # Outside files are opened in the import sandbox only (registry.sandbox).
        raise ArtifactIntegrityError(
            "a skops file is never loaded by a server process", fault="imported"
        )
    if fmt == "onnx":
        return onnx_session(data=data)
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
# Imported files whose stored copy passed `runtime.imported_check` in this process.
checked_imports: set[str] = set()


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
        checked_imports.clear()
