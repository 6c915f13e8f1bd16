"""The framework's path of a request, made leaner, answers as before: the API's routes in
their new order, content negotiation's shortcut, message storage made on first use."""

import pytest
from django.test import override_settings
from django.urls import resolve, reverse
from django.utils.functional import empty
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import (
    BrowsableAPIRenderer,
    JSONRenderer,
    MultiPartRenderer,
    TemplateHTMLRenderer,
)
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from predictor.api import urls as api_urls
from predictor.api.predictions import CSVRenderer
from predictor.api.renderers import ContentNegotiation, PredictionJSONRenderer

from .conftest import train

SAMPLE = {
    "name": "iris",
    "model_name": "iris",
    "version": "3",
    "pk": "7",
}


def _sample_paths():
    """(route name, its path with sample values, with and without a format suffix)."""
    for pattern in api_urls.urlpatterns:
        names = set(pattern.pattern.regex.groupindex)
        kwargs = {k: v for k, v in SAMPLE.items() if k in names - {"format"}}
        if "format" in names:
            kwargs["format"] = "json"
        if pattern.name == "api-root":
            continue
        if pattern.name == "apikey-detail":
            kwargs["pk"] = "Ab3xYz"
        yield pattern.name, reverse(pattern.name, kwargs=kwargs), kwargs


def test_the_prediction_routes_are_tried_first():
    names = [p.name for p in api_urls.urlpatterns]
    assert set(names[:4]) == {"model-predict", "version-predict"}
    assert len(names) == len(api_urls.router.urls)


@pytest.mark.parametrize("name, path, kwargs", list(_sample_paths()), ids=lambda v: str(v))
def test_every_api_route_still_resolves_to_itself(name, path, kwargs):
    match = resolve(path)
    assert match.url_name == name
    assert match.kwargs == kwargs


def _pair(negotiation, accept, query="", suffix=None, renderers=None):
    factory = APIRequestFactory()
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(factory.post("/api/models/iris/predict/" + query, **headers))
    renderers = renderers or [JSONRenderer(), BrowsableAPIRenderer()]
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except Exception as exc:  # DRF's NotAcceptable: compared by type and message
        return type(exc), str(exc)
    return type(renderer), media_type


ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "application/json; indent=2",
    "text/html, */*;q=0.5",
    "application/xml",
    "",
    "text/csv",
]


@pytest.mark.parametrize(
    "renderers",
    [
        None,
        [PredictionJSONRenderer()],
        [BrowsableAPIRenderer(), JSONRenderer()],
        [JSONRenderer(), BrowsableAPIRenderer(), CSVRenderer()],
        [TemplateHTMLRenderer()],
        [MultiPartRenderer(), JSONRenderer()],  # a media type with parameters comes first
        [MultiPartRenderer()],
    ],
    ids=[
        "json+api",
        "prediction",
        "api+json",
        "json+api+csv",
        "html",
        "multipart+json",
        "multipart",
    ],
)
def test_negotiation_picks_what_drf_picks(renderers):
    for accept in ACCEPTS:
        for query in ("", "?format=json", "?format=api", "?format=csv"):
            for suffix in (None, "json", "api"):
                ours = _pair(ContentNegotiation(), accept, query, suffix, renderers)
                drf = _pair(DefaultContentNegotiation(), accept, query, suffix, renderers)
                assert ours == drf, (accept, query, suffix)


def test_an_unacceptable_answer_is_still_refused(iris_version, alice_client):
    response = alice_client.post(
        "/api/models/iris/predict/",
        {"data": [[5.1, 3.5, 1.4, 0.2]]},
        format="json",
        HTTP_ACCEPT="application/xml",
    )
    assert response.status_code == 406


def test_a_message_reaches_the_next_page(iris_dataset, client, staff):
    train(iris_dataset)
    train(iris_dataset, algorithm="knn")
    client.force_login(staff)
    response = client.post(
        "/models/iris/promote/",
        {"version": 2, "stage": "production", "reason": "knn wins", "action": "promote"},
        follow=True,
    )
    assert "Version 2 is now production." in response.content.decode()
    # Shown once: the next page has it no more.
    assert "Version 2 is now production." not in client.get("/models/iris/").content.decode()


@override_settings(MESSAGE_STORAGE="django.contrib.messages.storage.cookie.CookieStorage")
def test_a_message_in_a_cookie_reaches_the_next_page(iris_dataset, client, staff):
    train(iris_dataset)
    client.force_login(staff)
    response = client.post("/models/iris/promote/", {"version": 1, "stage": "staging"})
    assert "messages" in response.cookies  # "Say why: a reason is required."
    page = client.get(response["Location"]).content.decode()
    assert "Say why: a reason is required." in page


def test_an_api_request_makes_no_message_storage(iris_version, alice_client):
    response = alice_client.post(
        "/api/models/iris/predict/", {"data": [[5.1, 3.5, 1.4, 0.2]]}, format="json"
    )
    assert response.status_code == 200
    assert response.wsgi_request._messages._wrapped is empty
    assert "messages" not in response.cookies
