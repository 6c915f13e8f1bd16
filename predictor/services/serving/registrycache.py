"""The per-process cache of what answers requests, read from the registry: the versions
(model name, version number or None for "production") → the ModelVersion with its model)
and the traffic policies (model name → its policy, all of them read at once).

What invalidates both: the registry generation (`RegistryGeneration`), a
number every change of what answers a request raises in its own transaction (a
promotion, a new first version, a model's `public` flag, a traffic policy). This process
drops everything at once when it raises the number itself, and otherwise compares the
number with the database at most once a second, so another process's change is seen
within a second. `reset()` empties it (tests).
"""

import threading
import time

from django.db import transaction
from django.db.models import F

from predictor.models import RegistryGeneration

CHECK_SECONDS = 1.0

_lock = threading.Lock()
_versions: dict = {}
_policies: dict = {"every": None}
_state = {"generation": None, "checked": 0.0}


def _current_generation() -> int:
    value = RegistryGeneration.objects.filter(pk=1).values_list("value", flat=True).first()
    return value or 0


def _fresh() -> None:
    now = time.monotonic()
    if now - _state["checked"] < CHECK_SECONDS:
        return
    generation = _current_generation()
    with _lock:
        if generation != _state["generation"]:
            _forget()
            _state["generation"] = generation
        _state["checked"] = now


def _forget() -> None:
    _versions.clear()
    _policies["every"] = None


def version_get(*, key):
    """The cached version, or None (after checking the generation when a second has passed)."""
    _fresh()
    return _versions.get(key)


def version_put(*, key, version) -> None:
    with _lock:
        _versions[key] = version


def policies_get() -> dict | None:
    """Every model's traffic policy by model name, or None when not cached."""
    _fresh()
    return _policies["every"]


def policies_put(*, every: dict) -> None:
    with _lock:
        _policies["every"] = every


def changed() -> None:
    """What answers requests may have changed: raise the generation (in the caller's
    transaction) and forget this process's entries now."""
    updated = RegistryGeneration.objects.filter(pk=1).update(value=F("value") + 1)
    if not updated:
        RegistryGeneration.objects.get_or_create(pk=1)
    reset()
    transaction.on_commit(reset)  # what another thread cached before the commit goes too


def on_model_saved(sender, **kwargs) -> None:
    """A model's row changed (its `public` flag, say): what answers may have changed."""
    changed()


def reset() -> None:
    with _lock:
        _forget()
        _state.update(generation=None, checked=0.0)
