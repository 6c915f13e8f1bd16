"""Map domain errors to JSON responses; never let a traceback reach a client."""

import logging
import uuid

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from predictor.middleware import RETRY_AFTER_SECONDS
from predictor.models import ImmutableFieldError
from predictor.services.errors import ServiceError

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
    if isinstance(exc, ServiceError):
        if exc.status_code >= 500:
            log.error("service error: %s", exc.message)
        headers = {}
        if exc.status_code == status.HTTP_401_UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Token realm="api"'
        if getattr(exc, "retry_after", None):
            headers["Retry-After"] = str(exc.retry_after)
        return Response(
            {"detail": exc.message, **exc.details}, status=exc.status_code, headers=headers
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.error("database unavailable: %s", exc)
        return Response(
            {"detail": "The service cannot reach its database; try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ImmutableFieldError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
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
