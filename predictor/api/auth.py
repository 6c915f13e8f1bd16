"""Authentication of API requests, cached briefly so a steady client costs no query.

Token → user lookups are kept per process for `AUTH_CACHE_SECONDS` (5 s): a deleted token
or a deactivated user is refused within that time. Nothing else invalidates an entry.
"""

import re
import threading
import time

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied, Throttled

from predictor.services import apikeys, logins

_lock = threading.Lock()
_tokens: dict[str, tuple[float, object]] = {}
MAX_ENTRIES = 10_000


def credentials_failed(request, exc: AuthenticationFailed):
    """Bad API credentials count towards the login limit of the client's address: past it,
    429 until the cool-off ends (a valid token or key is never slowed by this)."""
    django_request = getattr(request, "_request", request)
    if logins.credentials_refused(request=django_request) or logins.credentials_failed(
        request=django_request
    ):
        raise Throttled(wait=logins.cool_off_seconds(), detail=logins.message()) from None
    raise exc


class CachedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with the key → user answer kept a few seconds."""

    def authenticate(self, request):
        try:
            return super().authenticate(request)
        except AuthenticationFailed as exc:
            credentials_failed(request, exc)

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


# What a scoped API key may do: predict (REST and V2) and read model metadata.
KEY_ALLOWED = [
    ("GET", re.compile(r"^/api/models/?$")),
    ("GET", re.compile(r"^/api/models/(?P<model>[^/]+)/?$")),
    ("GET", re.compile(r"^/api/models/(?P<model>[^/]+)/versions(/[0-9]+)?/?$")),
    ("POST", re.compile(r"^/api/models/(?P<model>[^/]+)/(versions/[0-9]+/)?predict/?$")),
    ("GET", re.compile(r"^/v2(/health/(live|ready))?/?$")),
    ("GET", re.compile(r"^/v2/models/(?P<model>[^/]+)(/versions/[0-9]+)?(/ready)?/?$")),
    ("POST", re.compile(r"^/v2/models/(?P<model>[^/]+)(/versions/[0-9]+)?/infer/?$")),
]


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`: a scoped key (predictor.services.apikeys)."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.startswith(self.keyword + " "):
            return None
        key = apikeys.key_check(raw=header[len(self.keyword) + 1 :].strip())
        if key is None:
            credentials_failed(request, AuthenticationFailed("invalid, expired or revoked API key"))
        allowed = next(
            (
                m
                for method, pattern in KEY_ALLOWED
                if request.method in (method, "HEAD") and (m := pattern.match(request.path))
            ),
            None,
        )
        if allowed is None:
            raise PermissionDenied("an API key may only predict and read model metadata")
        model = allowed.groupdict().get("model")
        if model and key.model_names and model not in key.model_names:
            raise PermissionDenied(f"this API key may not use model {model!r}")
        return apikeys.KeyUser(key.created_by, key), key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """`Authorization: Api-Key <key>` in the OpenAPI document."""

    target_class = ApiKeyAuthentication
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A scoped API key: `Api-Key <key>` (see POST /api/api-keys/).",
        }
