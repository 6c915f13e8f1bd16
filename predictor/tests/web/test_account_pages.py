"""/account/token/: a signed-in person shows, creates and replaces their own API token."""

import re

from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

URL = "/account/token/"


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + key)
    return client.get("/api/predictions/").status_code == 200


def test_a_visitor_is_sent_to_the_login_page(db):
    client = Client()
    assert client.get(URL)["Location"].startswith("/login/?next=")
    post = client.post(URL)
    assert post.status_code == 302 and "/login/" in post["Location"]
    assert not Token.objects.exists()


def test_create_then_replace_and_the_old_key_stops_working(alice, bob, settings):
    settings.AUTH_CACHE_SECONDS = 0  # the contract allows 5 s; the test need not wait
    client = Client()
    client.force_login(alice)
    page = client.get(URL).content.decode()
    assert "No token yet" in page and 'href="/account/token/"' in page  # in the navigation
    assert client.post(URL).status_code == 302
    first = Token.objects.get(user=alice).key
    page = client.get(URL).content.decode()
    assert first in page and "Replace the token" in page
    assert _works(first)
    client.post(URL)
    second = Token.objects.get(user=alice).key
    assert second != first and second in client.get(URL).content.decode()
    assert _works(second) and not _works(first)
    assert not Token.objects.filter(user=bob).exists()  # only one's own


def test_the_page_shows_only_ones_own_token(alice, bob):
    bobs = Token.objects.create(user=bob)
    client = Client()
    client.force_login(alice)
    assert bobs.key not in client.get(URL).content.decode()


def test_the_post_needs_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(URL).status_code == 403
    assert not Token.objects.filter(user=alice).exists()
    page = client.get(URL).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(URL, {"csrfmiddlewaretoken": csrf}).status_code == 302
    assert Token.objects.filter(user=alice).exists()
