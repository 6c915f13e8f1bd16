"""DRF's exception handler: domain errors mapped once (`predictor.web.responses`); never a
traceback to a client."""

import logging
import uuid

from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from predictor.web.responses import as_service_error, service_error_parts

log = logging.getLogger(__name__)


def exception_handler(exc, context):
    request = context.get("request")
    if (
        request is not None
        and getattr(getattr(request, "accepted_renderer", None), "format", None) == "csv"
    ):
        # Errors are JSON, also when a CSV export was asked for.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    known = as_service_error(exc)
    if known is not None:
        if known.status_code >= 500:
            log.error("service error: %s (%s)", known.message, exc)
        body, code, headers = service_error_parts(known)
        return Response(body, status=code, headers=headers)
    response = drf_exception_handler(exc, context)
    if response is None:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error in API view (incident %s)", incident, exc_info=exc)
        return Response(
            {"detail": f"Internal error (incident {incident}); the server log has the details."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return response


def query_check(query, allowed, *, empty: bool = False) -> None:
    """A query parameter the view does not know (a typo such as ?modle=iris would otherwise
    be ignored), or, unless `empty`, one given without a value → 400 naming it."""
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        raise ValidationError(
            {unknown[0]: ["unknown query parameter; use: " + ", ".join(sorted(allowed))]}
        )
    blank = sorted(k for k, v in query.items() if v == "")
    if blank and not empty:
        raise ValidationError({blank[0]: ["empty value; leave the parameter out instead"]})
