"""The site's own error pages (JSON under /api/ and /v2/), in debug mode too."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render

from predictor.middleware import outage_response

API_PREFIXES = ("/api/", "/v2/", "/api")


def _error(request, status: int, message: str):
    if request.path.startswith(API_PREFIXES):
        key = "error" if request.path.startswith("/v2/") else "detail"
        return JsonResponse({key: message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


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
