"""The site's error handlers (`handler400` … in `mlsite/urls.py`): JSON under /api/ and
/v2/, the site's own page elsewhere (`predictor.web.responses`)."""

import logging
import sys

from predictor.web.responses import as_service_error, error_response, service_error_response

log = logging.getLogger(__name__)


def error_400(request, exception=None):
    return error_response(request, "Bad request.", 400)


def error_403(request, exception=None):
    return error_response(request, "You do not have permission to do this.", 403)


def error_404(request, exception=None):
    return error_response(request, "Not found.", 404)


def error_500(request):
    exc = sys.exc_info()[1]
    known = as_service_error(exc) if exc is not None else None
    if known is not None and known.status_code == 503:
        log.error("database unavailable: %s", exc)
        return service_error_response(request, known)
    return error_response(request, "Internal error; the server log has the details.", 500)
