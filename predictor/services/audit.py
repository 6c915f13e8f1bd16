"""The security audit trail (read-only in the admin, counted in /metrics): logins and
failed logins, API keys made and revoked, and bursts of refused requests — more than
SECURITY_DENIED_BURST answers 401/403 to one client address within a minute is recorded
once per minute, so an operator sees someone probing."""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache

from predictor.models import SecurityEvent
from predictor.services import metrics

log = logging.getLogger("predictor.security")
WINDOW_SECONDS = 60


def client_address(request) -> str:
    """THE client address of a request, for throttling, the audit trail and login limits.

    `REMOTE_ADDR`; behind trusted proxies (`DJANGO_BEHIND_PROXY`) the entry the nearest
    `TRUSTED_PROXY_COUNT` of them added to `X-Forwarded-For`, counted from the right: the
    entries to its left were written by the client and change nothing. A request with
    fewer entries than trusted proxies did not come through them: its `REMOTE_ADDR`.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        entries = [e.strip() for e in forwarded.split(",") if e.strip()]
        count = settings.TRUSTED_PROXY_COUNT
        if count >= 1 and len(entries) >= count:
            return entries[-count][:64]
    return (request.META.get("REMOTE_ADDR") or "")[:64]


def record(*, kind: str, username: str = "", client: str = "", detail: str = "") -> None:
    try:
        SecurityEvent.objects.create(
            kind=kind, username=username[:150], client=client, detail=detail[:500]
        )
    except Exception:  # the trail must never fail the request it describes
        log.exception("could not record security event %s", kind)
    metrics.security_event(kind=kind)
    log.info("security event %s user=%r client=%s %s", kind, username, client, detail)


def denied(request, status: int) -> None:
    """A 401/403 answered: count it per client; record a burst once per window."""
    client = client_address(request=request)
    window = int(time.time() // WINDOW_SECONDS)
    key = f"mlsite:denied:{client}:{window}"
    try:
        cache.add(key, 0, WINDOW_SECONDS * 2)
        count = cache.incr(key)
    except ValueError:
        return
    if count == settings.SECURITY_DENIED_BURST:
        record(
            kind=SecurityEvent.Kind.DENIED_BURST,
            client=client,
            detail=f"{count} requests refused (401/403) within a minute; last: {request.method} {request.path[:200]}",
        )


def on_login(sender, request, user, **kwargs) -> None:
    record(
        kind=SecurityEvent.Kind.LOGIN,
        username=user.get_username(),
        client=client_address(request=request),
    )


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    username = str(credentials.get("username", ""))[:150]
    client = client_address(request=request) if request is not None else ""
    detail = ""
    if getattr(request, "login_limited", False):
        # Refused by the login limit, password unchecked: recorded once per client and
        # username per minute, not once per try.
        key = f"mlsite:login-limited:{client}:{hashlib.sha256(username.encode()).hexdigest()}"
        if not cache.add(key, 1, WINDOW_SECONDS):
            return
        detail = "refused by the login limit (too many failed logins)"
    record(kind=SecurityEvent.Kind.LOGIN_FAILED, username=username, client=client, detail=detail)
