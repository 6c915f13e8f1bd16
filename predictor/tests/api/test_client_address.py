"""One client address: a client-written X-Forwarded-For changes nothing, for the rate limit
and the security audit alike."""

import pytest
from django.test import RequestFactory
from rest_framework.throttling import SimpleRateThrottle

from predictor.models import SecurityEvent
from predictor.services.audit import client_address

URL = "/api/models/iris/predict/"
ROW = [5.1, 3.5, 1.4, 0.2]


@pytest.mark.parametrize(
    "behind, count, forwarded, expected",
    [
        (False, 1, "6.6.6.6", "10.0.0.9"),  # not behind a proxy: the header is ignored
        (True, 1, "", "10.0.0.9"),  # no header: it did not come through the proxy
        (True, 1, "6.6.6.6", "6.6.6.6"),  # the proxy's own entry
        (True, 1, "spoofed, 1.2.3.4", "1.2.3.4"),  # nginx appends to what the client sent
        (True, 2, "spoofed, 1.2.3.4, 10.1.1.1", "1.2.3.4"),  # two proxies of ours
        (True, 2, "1.2.3.4", "10.0.0.9"),  # fewer entries than proxies
    ],
)
def test_the_client_address_is_counted_from_the_right(settings, behind, count, forwarded, expected):
    settings.BEHIND_PROXY = behind
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request=request) == expected


@pytest.mark.parametrize("behind", [False, True])
def test_a_new_forged_header_per_request_is_still_throttled(
    settings, iris_version, anon_client, monkeypatch, behind
):
    settings.BEHIND_PROXY = behind
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "5/minute", "user": None})
    codes = [
        anon_client.post(
            URL, {"data": [ROW]}, format="json", HTTP_X_FORWARDED_FOR=f"spoofed-{i}, 127.0.0.1"
        ).status_code
        for i in range(10)
    ]
    assert codes == [200] * 5 + [429] * 5


def test_refused_requests_with_rotating_headers_are_audited_by_the_real_address(
    settings, staff, anon_client
):
    settings.BEHIND_PROXY = True
    for i in range(settings.SECURITY_DENIED_BURST + 2):
        response = anon_client.get("/api/datasets/", HTTP_X_FORWARDED_FOR=f"9.9.9.{i}, 203.0.113.7")
        assert response.status_code in (401, 403)
    events = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.DENIED_BURST)
    assert [e.client for e in events] == ["203.0.113.7"]
