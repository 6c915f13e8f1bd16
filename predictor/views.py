"""Server-rendered pages: parse, call a service, render."""

from django.http import JsonResponse
from django.shortcuts import render

from predictor import selectors

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
    return _error(request, 500, "Internal error; the server log has the details.")


def home(request):
    models = selectors.models_visible_to(request.user)
    return render(request, "predictor/home.html", {"models": models})
