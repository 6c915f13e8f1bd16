"""The site's own error pages (JSON under /api/ and /v2/), in debug mode too."""

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render

from predictor.middleware import outage_response

API_PREFIXES = ("/api/", "/v2/", "/api")


SITE_PAGE = "X-Site-Error-Page"


def _error(request, status: int, message: str):
    if request.path.startswith(API_PREFIXES):
        key = "error" if request.path.startswith("/v2/") else "detail"
        return JsonResponse({key: message}, status=status)
    response = render(request, "error.html", {"status": status, "message": message}, status=status)
    response[SITE_PAGE] = "1"
    return response


class DebugErrorPagesMiddleware:
    """In development mode (`make run`) too, a missing page or a crash shows the site's own
    404 and 500 pages, not Django's technical ones (the console still has the traceback)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            settings.DEBUG
            and response.status_code in (404, 500)
            and not response.has_header(SITE_PAGE)
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(API_PREFIXES)
        ):
            return error_404(request) if response.status_code == 404 else error_500(request)
        return response


def error_400(request, exception=None):
    return _error(request, 400, "Bad request.")


def error_403(request, exception=None):
    return _error(request, 403, "You do not have permission to do this.")


def error_404(request, exception=None):
    return _error(request, 404, "Not found.")


def error_500(request):
    exc = sys.exc_info()[1]
    if isinstance(exc, (OperationalError, InterfaceError)):
        return outage_response(request, exc)
    return _error(request, 500, "Internal error; the server log has the details.")
