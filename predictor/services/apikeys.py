"""Scoped API keys: made by managers, shown once, stored hashed (djangorestframework-api-key),
revoked by their maker or a superuser.

A key acts for the staff user who made it, as a non-staff caller (the stage rule applies),
may only predict (REST and V2) and read the metadata of the models it may use — its
`models`, or all when that list is empty — and its prefix is its routing key. Lookups are
cached per process for AUTH_CACHE_SECONDS, so a revoked or expired key is refused within
that time; `last_used` is written at most once a minute.
"""

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from predictor.models import RegisteredModel, ScopedAPIKey, SecurityEvent
from predictor.services import audit
from predictor.services.errors import Forbidden, InvalidInput, NotFound

LAST_USED_EVERY = 60.0
_lock = threading.Lock()
_cache: dict[str, tuple[float, ScopedAPIKey | None]] = {}


def key_create(*, user, name: str, models=None, expires_at=None) -> tuple[ScopedAPIKey, str]:
    """A new key for `user` (staff); the key itself is returned here and never again."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("give the key a name", field="name")
    models = list(dict.fromkeys(models or []))
    known = set(RegisteredModel.objects.filter(name__in=models).values_list("name", flat=True))
    unknown = [m for m in models if m not in known]
    if unknown:
        raise InvalidInput(f"no model named {unknown[0]!r}", field="models")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("'expires_at' is in the past", field="expires_at")
    key, raw = ScopedAPIKey.objects.create_key(
        name=name[:50], created_by=user, model_names=models, expiry_date=expires_at
    )
    audit.record(
        kind=SecurityEvent.Kind.KEY_CREATED,
        username=user.get_username(),
        detail=f"key {key.prefix} ({key.name}) for models {models or 'all'}",
    )
    return key, raw


def keys():
    return ScopedAPIKey.objects.select_related("created_by").order_by("-created")


def key_revoke(*, prefix: str, user=None) -> ScopedAPIKey:
    """Revoke a key: its maker or a superuser may (`user=None`: the system)."""
    key = ScopedAPIKey.objects.filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"no API key {prefix}")
    if user is not None and not (
        getattr(user, "is_superuser", False) or key.created_by_id == user.pk
    ):
        raise Forbidden("an API key is revoked by its maker or a superuser")
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
        audit.record(
            kind=SecurityEvent.Kind.KEY_REVOKED,
            username=getattr(user, "username", ""),
            detail=f"key {key.prefix} ({key.name})",
        )
    return key


def key_check(*, raw: str) -> ScopedAPIKey | None:
    """The usable key for `raw` (not revoked, not expired), or None; cached briefly."""
    now = time.monotonic()
    hit = _cache.get(raw)
    if hit is not None and now - hit[0] < settings.AUTH_CACHE_SECONDS:
        key = hit[1]
    else:
        try:
            key = ScopedAPIKey.objects.get_from_key(raw)
            key.created_by  # noqa: B018  (loaded now, not on every cached use)
        except ScopedAPIKey.DoesNotExist:
            key = None
        with _lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[raw] = (now, key)
    if key is None or key.has_expired or not key.created_by.is_active:
        return None
    _touch(key)
    return key


def _touch(key: ScopedAPIKey) -> None:
    now = timezone.now()
    if key.last_used is None or (now - key.last_used).total_seconds() >= LAST_USED_EVERY:
        key.last_used = now
        ScopedAPIKey.objects.filter(pk=key.pk).update(last_used=now)


def reset() -> None:
    with _lock:
        _cache.clear()


@dataclass(frozen=True)
class KeyUser:
    """The caller of a request made with an API key: its maker's id and name, never staff."""

    user: object
    key: ScopedAPIKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self):
        return self.user.pk

    id = pk

    @property
    def username(self):
        return self.user.username

    @property
    def api_key_models(self) -> list[str]:
        return list(self.key.model_names)

    @property
    def routing_key(self) -> str:
        return f"apikey:{self.key.prefix}"

    def may_use(self, model_name: str) -> bool:
        return not self.key.model_names or model_name in self.key.model_names

    def has_perm(self, *args, **kwargs) -> bool:
        return False

    def __str__(self):
        return f"{self.user.username} (API key {self.key.prefix})"
