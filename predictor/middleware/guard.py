"""Guards in front of every door: hostile paths, the request id, the API's body size, a
database outage in a view."""

import logging
from urllib.parse import unquote

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.urls import Resolver404, resolve

from predictor.services import audit
from predictor.services.serving.inference import request_id_clean
from predictor.web.responses import (
    as_service_error,
    close_connection,
    error_response,
    is_api,
    service_error_response,
)

log = logging.getLogger(__name__)

MAX_URL_BYTES = 8190


class ApiGuardMiddleware:
    """Refuses NUL bytes in the path or query (no database is asked), caps API bodies,
    serves API paths without their trailing slash, tags every request and response with
    an `X-Request-ID`, and turns a database outage in a view into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_clean(given=request.headers.get("X-Request-ID"))
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
        # Multipart bodies (uploads) have their door's cap: predictor.middleware.uploads.
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
            log.error("database unavailable: %s", exception)
            return service_error_response(request, as_service_error(exception))
        return None
