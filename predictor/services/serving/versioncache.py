"""The per-process cache of the versions that answer requests.

What it holds: (model name, version number or None for "production") → the ModelVersion,
with its model. What invalidates it: the registry generation (`RegistryGeneration`), a
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
_entries: dict = {}
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
            _entries.clear()
            _state["generation"] = generation
        _state["checked"] = now


def get(key):
    """The cached entry, or None (after checking the generation when a second has passed)."""
    _fresh()
    return _entries.get(key)


def put(key, value) -> None:
    with _lock:
        _entries[key] = value


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
        _entries.clear()
        _state.update(generation=None, checked=0.0)
