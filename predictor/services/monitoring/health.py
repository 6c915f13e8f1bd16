"""Readiness of this server process: does the database answer, can every production
version serve?

The answer is kept per process for `READINESS_CACHE_SECONDS` (2 s), so a load balancer
probing often costs one check per interval; nothing else invalidates it. `reset()` forgets
it (tests).
"""

import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection

from predictor.models import ModelVersion, Runtime, Stage
from predictor.services.errors import ServiceError
from predictor.services.registry import artifacts
from predictor.services.serving import runtime

log = logging.getLogger(__name__)

OK = "ok"
READY, DEGRADED, UNREADY = "ready", "degraded", "unready"


@dataclass(frozen=True)
class Readiness:
    status: str
    checks: dict = field(default_factory=dict)

    @property
    def http_status(self) -> int:
        # Degraded still takes traffic: the other models serve.
        return 503 if self.status == UNREADY else 200

    def as_dict(self) -> dict:
        return {"status": self.status, "checks": dict(self.checks)}


_lock = threading.Lock()
_cached: tuple[float, Readiness] | None = None


def reset() -> None:
    global _cached
    with _lock:
        _cached = None


def readiness() -> Readiness:
    """This process's readiness, checked at most once per `READINESS_CACHE_SECONDS`."""
    global _cached
    now = time.monotonic()
    hit = _cached
    if hit is not None and now - hit[0] < settings.READINESS_CACHE_SECONDS:
        return hit[1]
    answer = readiness_check()
    with _lock:
        _cached = (time.monotonic(), answer)
    return answer


def readiness_check() -> Readiness:
    """Ask the database, then load every production version as serving would."""
    try:
        database_ping()
        versions = list(
            ModelVersion.objects.filter(stage=Stage.PRODUCTION)
            .select_related("model")
            .order_by("model__name")
        )
        broken = _unservable(versions)
    except Exception as exc:  # whatever stops the database answering means not ready
        log.error("readiness: database unavailable: %s", exc)
        return Readiness(UNREADY, {"database": _first_line(exc), "artifacts": "not checked"})
    faults = [f"{v.model.name} v{v.version}: {fault}" for v, fault in broken]
    if faults:
        return Readiness(DEGRADED, {"database": OK, "artifacts": "; ".join(faults)})
    return Readiness(READY, {"database": OK, "artifacts": OK})


def database_ping() -> None:
    """One round trip to the default database (raises when it does not answer)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _unservable(versions) -> list[tuple[ModelVersion, str]]:
    """(version, fault) for each version whose files are not in the store as recorded, or
    that this process cannot load (hash, allow-list: the checks serving makes)."""
    broken = []
    for version in versions:
        try:
            # The file on disk now: a loaded model stays cached after its file is gone,
            # but the next process would not start serving it.
            artifacts.artifact_read_verified(name=version.artifact, sha256=version.sha256)
            if version.runtime == Runtime.ONNX:
                artifacts.artifact_read_verified(
                    name=version.compiled_artifact, sha256=version.compiled_sha256
                )
            runtime.runtime_for(version=version)  # loaded once per process, as a request would
        except ServiceError as exc:
            broken.append((version, exc.details.get("fault") or exc.message))
        except DatabaseError:
            raise  # not the artifact's fault: the caller answers "unready"
        except Exception as exc:  # an artifact that fails to load in any other way
            log.exception("readiness: %s cannot load", version)
            broken.append((version, f"cannot load ({type(exc).__name__})"))
    return broken


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
