"""Guards in front of every door: hostile paths, the request id, body size, outages; the
Content-Security-Policy header; message storage made on first use."""

import functools
import logging
from urllib.parse import unquote

from csp import middleware as csp_middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.contrib.messages import middleware as messages_middleware
from django.contrib.messages.storage import default_storage
from django.core.signals import setting_changed
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.functional import SimpleLazyObject, empty

from predictor.services import audit
from predictor.services.serving.inference import request_id_clean

log = logging.getLogger(__name__)

API_PREFIXES = ("/api/", "/v2/")
RETRY_AFTER_SECONDS = 5
MAX_URL_BYTES = 8190
# In the WSGI environ under gunicorn (mlsite/gunicorn_worker.py): ends the connection after
# this answer. PEP 3333 keeps the application from sending `Connection: close` itself.
CONNECTION_CLOSE = "mlsite.connection_close"


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/v2")


def error_response(request, message: str, status: int, *, retry_after: int | None = None):
    """JSON for the API (`{"error"}` under /v2/, `{"detail"}` under /api/), a page otherwise."""
    path = request.path_info
    if is_api(path):
        key = "error" if path.startswith("/v2") else "detail"
        response = JsonResponse({key: message}, status=status)
    else:
        response = render(
            request, "error.html", {"status": status, "message": message}, status=status
        )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def close_connection(request) -> None:
    """The connection ends after this answer (`Connection: close`): for an answer sent
    without reading the body, whose client may still be sending it."""
    close = request.META.get(CONNECTION_CLOSE)
    if close is not None:
        close()


def outage_response(request, exc):
    """503 with Retry-After while the database cannot be reached; nothing was written."""
    log.error("database unavailable: %s", exc)
    return error_response(
        request,
        "The service cannot reach its database; try again shortly.",
        503,
        retry_after=RETRY_AFTER_SECONDS,
    )


class ApiGuardMiddleware:
    """Refuses NUL bytes in the path or query (no database is asked), caps API bodies,
    serves API paths without their trailing slash, tags every request and response with
    an `X-Request-ID`, and turns a database outage in a view into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_clean(request.headers.get("X-Request-ID"))
        response = self._guard(request) or self.get_response(request)
        response["X-Request-ID"] = request.request_id
        if response.status_code in (401, 403):
            audit.denied(request, response.status_code)
        return response

    def _guard(self, request):
        path = request.path_info
        if len(request.META.get("QUERY_STRING", "")) + len(path) > MAX_URL_BYTES:
            return error_response(request, f"The URL is longer than {MAX_URL_BYTES} bytes.", 414)
        if "\x00" in path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            return error_response(request, "NUL characters are not allowed in a URL.", 400)
        if not is_api(path):
            return None
        limit = settings.REQUEST_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            close_connection(request)
            return error_response(request, "Invalid Content-Length header.", 400)
        # Multipart bodies (uploads) have their door's cap: predictor.web.uploads.
        if length > limit and request.content_type != "multipart/form-data":
            close_connection(request)
            return error_response(
                request,
                f"The request body is {length} bytes; the limit is {limit} bytes "
                "(REQUEST_MAX_BODY_BYTES).",
                413,
            )
        if path.startswith("/api") and not path.endswith("/"):
            # Serve /api/models like /api/models/ instead of a redirect (which loses a
            # POST body) or Django's debug-mode RuntimeError.
            try:
                resolve(path)
            except Resolver404:
                try:
                    resolve(path + "/")
                    request.path_info = path + "/"
                except Resolver404:
                    pass
        return None

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return outage_response(request, exception)
        return None


# --- Content-Security-Policy ------------------------------------------------------------------

_PER_RESPONSE = tuple(
    f"_csp_{part}{ro}" for part in ("config", "update", "replace") for ro in ("", "_ro")
)


@functools.cache
def _policies() -> tuple[str, tuple, str, tuple]:
    """The header values of the settings' policy and report-only policy, and the URL
    prefixes each leaves out: built once (until a setting changes, in tests)."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or {}
    return (
        build_policy(),
        tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ()),
        build_policy(report_only=True),
        tuple(report_only.get("EXCLUDE_URL_PREFIXES", None) or ()),
    )


def _policies_forget(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.cache_clear()


setting_changed.connect(_policies_forget)


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, except that a response which changes nothing in the policy
    (no nonce asked for, no per-view decorator) gets the headers built once per process:
    django-csp builds them anew for every response, about a tenth of a one-row prediction's
    CPU here. Every other response goes through django-csp's own code."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (404, 500) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        policy, excluded, report_only, excluded_ro = _policies()
        path = request.path_info
        for header, value, exempt, prefixes in (
            (HEADER, policy, "_csp_exempt", excluded),
            (HEADER_REPORT_ONLY, report_only, "_csp_exempt_ro", excluded_ro),
        ):
            if (
                value
                and header not in response
                and not getattr(response, exempt, False)
                and not path.startswith(prefixes)
            ):
                response[header] = value
        # As django-csp does: asking for a nonce after the header is written is an error.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response


class MessageMiddleware(messages_middleware.MessageMiddleware):
    """Django's, except that a request's message storage is made when first used: an API
    request never uses it, and making it (a cookie signer, the session's storage) cost
    about 2% of a one-row prediction here. Storage never made holds nothing to save."""

    def process_request(self, request):
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(self, request, response):
        storage = getattr(request, "_messages", None)
        if isinstance(storage, SimpleLazyObject) and storage._wrapped is empty:
            return response
        return super().process_response(request, response)
