"""Rate limits in O(1) per request: a counter per client and time window.

DRF's own throttles keep a list of every request's time in the window and rewrite it in
the cache on each request: at thousands of requests a minute that list is the most
expensive thing a prediction does. A fixed window counts instead (`cache.add` + `incr`),
so a client may briefly reach twice its rate across a window's edge; the limit holds
per window. The throttling answer is DRF's own (429 with Retry-After).
"""

import time

from rest_framework.throttling import UserRateThrottle


class _FixedWindow:
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
