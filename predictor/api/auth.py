"""Authentication of API requests, cached briefly so a steady client costs no query.

Token → user lookups are kept per process for `AUTH_CACHE_SECONDS` (5 s): a deleted token
or a deactivated user is refused within that time. Nothing else invalidates an entry.
"""

import threading
import time

from django.conf import settings
from rest_framework.authentication import TokenAuthentication

_lock = threading.Lock()
_tokens: dict[str, tuple[float, object]] = {}
MAX_ENTRIES = 10_000


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with the key → user answer kept a few seconds."""

    def authenticate_credentials(self, key):
        now = time.monotonic()
        hit = _tokens.get(key)
        if hit is not None and now - hit[0] < settings.AUTH_CACHE_SECONDS:
            return hit[1]
        answer = super().authenticate_credentials(key)  # AuthenticationFailed if not valid
        with _lock:
            if len(_tokens) >= MAX_ENTRIES:
                _tokens.clear()
            _tokens[key] = (now, answer)
        return answer


def reset() -> None:
    with _lock:
        _tokens.clear()
