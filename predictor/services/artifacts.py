"""The ONE place that writes and reads artifact files: atomic writes, sha256, a cache."""

import hashlib
import io
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import joblib
from django.conf import settings

from predictor.services.errors import ArtifactIntegrityError

FORMATS = ("joblib", "skops")

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


def _path_in_store(name: str) -> Path:
    root = _root().resolve()
    path = (root / name).resolve()
    if path.parent != root or name.startswith("."):
        raise ArtifactIntegrityError(f"artifact {name!r} is not in the artifact store")
    return path


def artifact_read_verified(*, name: str, sha256: str) -> bytes:
    """The artifact's bytes, after checking they hash to the recorded sha256."""
    path = _path_in_store(name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactIntegrityError(f"artifact {name!r} is missing from the store") from None
    actual = sha256_bytes(data)
    if actual != sha256:
        raise ArtifactIntegrityError(
            f"artifact {name!r} does not match its recorded sha256 "
            f"(expected {sha256[:12]}…, found {actual[:12]}…): refusing to load it"
        )
    return data


def skops_type_allowed(type_name: str) -> bool:
    """The server's allow-list for skops types (settings), never one taken from a file."""
    prefixes = tuple(settings.SKOPS_TRUSTED_MODULE_PREFIXES)
    return type_name in settings.SKOPS_TRUSTED_TYPES_EXTRA or type_name.startswith(prefixes)


def _deserialise(data: bytes, fmt: str):
    if fmt == "joblib":
        return joblib.load(io.BytesIO(data))
    if fmt == "skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(data=data)
        refused = [t for t in untrusted if not skops_type_allowed(t)]
        if refused:
            raise ArtifactIntegrityError(
                f"artifact holds types outside the allow-list: {', '.join(refused)}"
            )
        return sio.loads(data, trusted=untrusted)
    raise ArtifactIntegrityError(f"unknown artifact format {fmt!r}")


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


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
