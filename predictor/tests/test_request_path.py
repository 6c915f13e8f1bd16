"""The framework's path of a request: every API route resolves to itself, an answer the
client cannot accept is refused, and a page's message reaches the next page."""

import pytest
from django.test import override_settings
from django.urls import resolve, reverse

from predictor.api import urls as api_urls

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


@pytest.mark.parametrize("name, path, kwargs", list(_sample_paths()), ids=lambda v: str(v))
def test_every_api_route_still_resolves_to_itself(name, path, kwargs):
    match = resolve(path)
    assert match.url_name == name
    assert match.kwargs == kwargs


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
    text = "Version 2 is now in production; version 1 moved to archived."
    assert text in response.content.decode()
    # Shown once: the next page has it no more.
    assert text not in client.get("/models/iris/").content.decode()


@override_settings(MESSAGE_STORAGE="django.contrib.messages.storage.cookie.CookieStorage")
def test_a_message_in_a_cookie_reaches_the_next_page(iris_dataset, client, staff):
    train(iris_dataset)
    client.force_login(staff)
    response = client.post("/models/iris/promote/", {"version": 1, "stage": "staging"})
    assert "messages" in response.cookies  # "Say why: a reason is required."
    page = client.get(response["Location"]).content.decode()
    assert "Say why: a reason is required." in page
