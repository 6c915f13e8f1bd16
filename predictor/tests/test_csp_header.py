"""The Content-Security-Policy header: what django-csp builds from the settings, on every
response, whether the middleware built it once (the usual response) or anew (a nonce, a
per-view decorator, a changed setting)."""

import json

import pytest
from csp.constants import NONCE
from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.http import HttpResponse
from django.test import RequestFactory

HEADER = "Content-Security-Policy"


def test_pages_api_answers_and_errors_carry_the_settings_policy(iris_version, alice_client):
    expected = build_policy()  # django-csp's own build from the settings
    assert "frame-ancestors 'none'" in expected and "script-src 'self'" in expected
    answers = [
        alice_client.post(
            "/api/models/iris/predict/",
            json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}),
            content_type="application/json",
        ),
        alice_client.get("/"),
        alice_client.get("/api/models/no-such-model/"),
        alice_client.post("/api/models/iris/predict/", "{", content_type="application/json"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 404, 400]
    for response in answers:
        assert response[HEADER] == expected
        assert "Content-Security-Policy-Report-Only" not in response


def test_a_changed_setting_changes_the_header(client, settings):
    assert "img-src 'self' data:" in client.get("/healthz")[HEADER]
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://img.example.org"]}
    }
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    response = client.get("/healthz")
    assert "img-src https://img.example.org" in response[HEADER]
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"


def middleware_answer(request, response=None):
    middleware = CSPMiddleware(lambda r: response or HttpResponse("ok"))
    middleware.process_request(request)
    return request, middleware.process_response(request, response or HttpResponse("ok"))


def test_a_nonce_asked_for_is_in_that_responses_header_only(settings, db):
    policy = settings.CONTENT_SECURITY_POLICY
    settings.CONTENT_SECURITY_POLICY = {
        "DIRECTIVES": {**policy["DIRECTIVES"], "script-src": ["'self'", NONCE]}
    }
    request = RequestFactory().get("/")
    middleware = CSPMiddleware(lambda r: HttpResponse("ok"))
    middleware.process_request(request)
    nonce = str(request.csp_nonce)  # a template asked for it
    with_nonce = middleware.process_response(request, HttpResponse("ok"))
    assert f"script-src 'self' 'nonce-{nonce}'" in with_nonce[HEADER]
    _, without = middleware_answer(RequestFactory().get("/"))
    assert "nonce" not in without[HEADER] and "script-src 'self'" in without[HEADER]


def test_a_per_view_update_or_exemption_is_kept(db):
    updated = HttpResponse("ok")
    updated._csp_update = {"img-src": ["https://img.example.org"]}
    _, response = middleware_answer(RequestFactory().get("/"), updated)
    assert "img-src 'self' data: https://img.example.org" in response[HEADER]
    exempt = HttpResponse("ok")
    exempt._csp_exempt = True
    _, response = middleware_answer(RequestFactory().get("/"), exempt)
    assert HEADER not in response


def test_asking_for_a_nonce_after_the_header_is_written_is_an_error(db):
    from csp.exceptions import CSPNonceError

    request, _ = middleware_answer(RequestFactory().get("/"))
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)
