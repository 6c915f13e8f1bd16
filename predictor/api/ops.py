"""Operations endpoints: liveness (/healthz), readiness (/readyz), Prometheus (/metrics).

Outside /api/ and the OpenAPI document; never throttled. Health answers anyone and asks no
credentials; metrics answer staff, or a scraper holding `METRICS_TOKEN`.
"""

import hmac
import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from predictor.api.auth import CachedTokenAuthentication
from predictor.services import access, metrics
from predictor.services.monitoring import health

log = logging.getLogger(__name__)

SCRAPER = "metrics-token"


class FirstRenderer(BaseContentNegotiation):
    """JSON whatever the client accepts: probes and scrapers send all sorts of Accept."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(exclude=True)
class OpsView(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer
    throttle_classes = []


class Healthz(OpsView):
    """Liveness: the process answers (touches nothing else)."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    def get(self, request):
        return Response({"status": "ok"})


class Readyz(OpsView):
    """Readiness: the database answers and the production versions can serve."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    def get(self, request):
        try:
            answer = health.readiness()
        except Exception:  # a probe gets an answer, never a 500
            log.exception("readiness check failed")
            return Response(
                {"status": health.UNREADY, "checks": {"readiness": "check failed"}},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response(answer.as_dict(), status=answer.http_status)


class MetricsTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <METRICS_TOKEN>`: a scraper, not a user."""

    def authenticate(self, request):
        expected = settings.METRICS_TOKEN
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if not expected or scheme.lower() != "bearer":
            return None
        if hmac.compare_digest(given.strip().encode(), expected.encode()):
            return AnonymousUser(), SCRAPER
        return None  # a wrong token is no credential: 401 like none at all

    def authenticate_header(self, request):
        return 'Bearer realm="metrics"'


class IsStaffOrScraper(permissions.BasePermission):
    def has_permission(self, request, view):
        if request.auth == SCRAPER:
            return True
        return access.is_staff(user=request.user)


class Metrics(OpsView):
    """Prometheus text exposition, totals over every worker process of the server."""

    authentication_classes = [
        MetricsTokenAuthentication,
        CachedTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsStaffOrScraper]

    def get(self, request):
        return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
