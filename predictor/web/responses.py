"""How an error becomes an answer, for every door: JSON under /api/ and /v2/ (`{"detail"}`
and `{"error"}` as each protocol has it), the site's own page elsewhere.

The one mapping of the domain's exceptions (`services.errors`) to a status, a body and
headers (`service_error_parts`, which DRF's exception handler and the middleware both use),
and of the failures that are not the domain's to one of them: a database that does not
answer is a 503 with `Retry-After` (`ServiceUnavailable`), a write to an immutable version
field a 400."""

from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.shortcuts import render

from predictor.models import ImmutableFieldError
from predictor.services.errors import InvalidInput, ServiceError, ServiceUnavailable

API_PREFIXES = ("/api/", "/v2/")
OUTAGE_MESSAGE = "The service cannot reach its database; try again shortly."
# On the site's own error pages, so that the debug-mode middleware leaves them be.
SITE_PAGE = "X-Site-Error-Page"
# In the WSGI environ under gunicorn (mlsite/gunicorn_worker.py): ends the connection after
# this answer. PEP 3333 keeps the application from sending `Connection: close` itself.
CONNECTION_CLOSE = "mlsite.connection_close"


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in ("/api", "/v2")


def as_service_error(exc: BaseException) -> ServiceError | None:
    """The domain's error for `exc`: itself, a database outage (503), an immutable field
    (400); None for anything else (a bug: a 500)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, (OperationalError, InterfaceError)):
        return ServiceUnavailable(OUTAGE_MESSAGE)
    if isinstance(exc, ImmutableFieldError):
        return InvalidInput(str(exc))
    return None


def service_error_parts(exc: ServiceError) -> tuple[dict, int, dict]:
    """Body, status and headers of a domain error (the API's shape: `detail` and details)."""
    headers = {}
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Token realm="api"'
    if getattr(exc, "retry_after", None):
        headers["Retry-After"] = str(exc.retry_after)
    return {"detail": exc.message, **exc.details}, exc.status_code, headers


def error_response(request, message: str, status: int, *, headers=None):
    """JSON for the API (`{"error"}` under /v2/, `{"detail"}` under /api/), a page otherwise."""
    path = request.path_info
    if is_api(path):
        key = "error" if path.startswith("/v2") else "detail"
        response = JsonResponse({key: message}, status=status)
    else:
        response = render(
            request, "error.html", {"status": status, "message": message}, status=status
        )
        response[SITE_PAGE] = "1"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def service_error_response(request, exc: ServiceError):
    """A domain error answered outside DRF (middleware, error handlers), in the door's shape."""
    _, status, headers = service_error_parts(exc)
    headers.pop("WWW-Authenticate", None)
    return error_response(request, exc.message, status, headers=headers)


def close_connection(request) -> None:
    """The connection ends after this answer (`Connection: close`): for an answer sent
    without reading the body, whose client may still be sending it."""
    close = request.META.get(CONNECTION_CLOSE)
    if close is not None:
        close()
