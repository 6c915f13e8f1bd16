"""Guards in front of the API: body size cap, and paths without their trailing slash."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import Resolver404, resolve

API_PREFIXES = ("/api/", "/v2/")
UPLOAD_PREFIXES = ("/api/datasets",)


def error_response(path: str, message: str, status: int) -> JsonResponse:
    key = "error" if path.startswith("/v2/") else "detail"
    return JsonResponse({key: message}, status=status)


class ApiGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(API_PREFIXES) or path in ("/api", "/v2"):
            limit = settings.REQUEST_MAX_BODY_BYTES
            if path.startswith(UPLOAD_PREFIXES):
                limit = max(limit, settings.DATASET_MAX_UPLOAD_BYTES + 65536)
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(path, "Invalid Content-Length header.", 400)
            if length > limit:
                return error_response(
                    path, f"The request body is {length} bytes; the limit is {limit} bytes.", 413
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
        return self.get_response(request)
