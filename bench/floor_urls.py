"""Endpoints that do what a prediction request does to reach a view and answer, and nothing
else, under the service's settings and middleware (bench/floor_bench.py): each reads the
JSON body and answers `{"predictions": [0]}`. Only the bench server loads this URLconf."""

import json

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from mlsite.urls import urlpatterns as site


@csrf_exempt
def django_view(request):
    json.loads(request.body)
    return JsonResponse({"predictions": [0]})


class DRFView(APIView):
    """DRF's request, parser, negotiation and renderer; no authentication, permission or
    throttle."""

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def post(self, request):
        request.data  # noqa: B018 (parses the body)
        return Response({"predictions": [0]})


class DRFTokenView(APIView):
    """As above, with the service's default authentication, permission and throttles (the
    prediction API's own): a token is checked and counted."""

    def post(self, request):
        request.data  # noqa: B018
        return Response({"predictions": [0]})


urlpatterns = [
    path("bench-floor/django/", django_view),
    path("bench-floor/drf/", DRFView.as_view()),
    path("bench-floor/drf-token/", DRFTokenView.as_view()),
    *site,
]
