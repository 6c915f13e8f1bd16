"""Rate limits in O(1) per request: a counter per client and time window.

DRF's own throttles keep a list of every request's time in the window and rewrite it in
the cache on each request: at thousands of requests a minute that list is the most
expensive thing a prediction does. A fixed window counts instead (`cache.add` + `incr`;
on Redis one pipelined round trip), so a client may briefly reach twice its rate across a
window's edge; the limit holds per window. The throttling answer is DRF's own (429 with
Retry-After).
"""

import time

from django.core.cache.backends.redis import RedisCache
from django.utils.connection import ConnectionProxy
from rest_framework.throttling import UserRateThrottle

from mlsite import perf
from predictor.services import audit

# Measured alone (bench/RESULTS.md "Overrides on trial", 2026-12-07; iris, 1 row, 16
# connections, CACHE_URL=redis://): switched off (Django's add + incr, three round trips),
# -16% req/s and +16% worker CPU a request, beyond the noise (±38% req/s, ±20% CPU; 6 of 6
# rounds); a second run -12% req/s, +11% CPU, the same direction. Kept. The private
# internals it reads (`cache._cache.get_client`, the proxy's `_connections[_alias]`) are
# pinned by predictor/tests/test_overrides.py.
_PIPELINE = perf.on("redis_throttle")  # off: Django's cache.add + incr on Redis too


class _FixedWindow:
    def get_ident(self, request):
        """The service's one client address (DRF's own trusts a client's X-Forwarded-For
        unless NUM_PROXIES is set)."""
        return audit.client_address(request=request)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.key = f"{key}:{window}"
        self.window_end = (window + 1) * self.duration
        if _PIPELINE and isinstance(backend := _backend(self.cache), RedisCache):
            return _redis_count(backend, self.key, self.duration + 1) <= self.num_requests
        if self.cache.add(self.key, 1, self.duration + 1):
            return True
        try:
            count = self.cache.incr(self.key)
        except ValueError:  # expired between add and incr: a new window
            self.cache.add(self.key, 1, self.duration + 1)
            return True
        return count <= self.num_requests

    def wait(self):
        return max(0.0, self.window_end - time.time())


def _backend(cache):
    """The cache behind Django's `cache` proxy (DRF's throttles hold the proxy)."""
    if isinstance(cache, ConnectionProxy):
        return cache._connections[cache._alias]
    return cache


def _redis_count(cache: RedisCache, key: str, timeout: int) -> int:
    """The window's count after this request, in one round trip: Django's `add` and `incr`
    on Redis take three (SET NX, then EXISTS and INCRBY), about a millisecond of a one-row
    prediction's time. The counter is what `add` and `incr` keep (a plain integer, read back
    by `cache.get`), created with its expiry if missing, then incremented."""
    key = cache.make_and_validate_key(key)
    pipe = cache._cache.get_client(key, write=True).pipeline(transaction=False)
    pipe.set(key, 0, ex=timeout, nx=True)
    pipe.incr(key)
    return pipe.execute()[1]


class FixedWindowRateThrottle(_FixedWindow, UserRateThrottle):
    """One counter a request: `THROTTLE_USER` per user, `THROTTLE_ANON` per client address
    for anonymous requests."""

    def __init__(self):
        pass  # the rate depends on the request: chosen in allow_request

    def allow_request(self, request, view):
        authenticated = bool(request.user and request.user.is_authenticated)
        self.scope = "user" if authenticated else "anon"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
