"""Login limits, as a guesser meets them: per username and per client address, at the
site's login, the admin's and with bad API credentials; a forged X-Forwarded-For does not
reset them; the right password works again after the cool-off."""

import time
from datetime import timedelta

import pytest
from django.test import Client

from predictor.models import SecurityEvent

from ..conftest import client_for

HANDLERS = ["axes.handlers.database.AxesDatabaseHandler", "axes.handlers.cache.AxesCacheHandler"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """A fast hasher: thirty guesses take no time (the limit, not the hash, is tested)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(params=HANDLERS, ids=["database", "cache"])
def handler(request, settings):
    settings.AXES_HANDLER = request.param  # axes re-reads it when the setting changes
    return request.param


def _guess(client, path, username, password, **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_thirty_wrong_passwords_then_the_right_one_is_refused(handler, staff, path):
    client = Client()
    codes = [_guess(client, path, "staff", f"wrong-{i}").status_code for i in range(30)]
    assert codes[:9] == [200] * 9 and set(codes[9:]) == {429}
    right = _guess(client, path, "staff", "pw-staff-123")
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    assert "Too many failed logins" in right.content.decode()
    assert right["Retry-After"] == "900"
    # Tries while refused are not one row each in the audit trail.
    assert SecurityEvent.objects.filter(kind="login_failed").count() <= 11


def test_the_right_password_works_after_the_cool_off(handler, settings, alice):
    settings.AXES_COOLOFF_TIME = timedelta(seconds=3)
    client = Client()
    for i in range(10):
        _guess(client, "/login/", "alice", f"wrong-{i}")
    assert _guess(client, "/login/", "alice", "pw-alice-123").status_code == 429
    time.sleep(3.5)
    assert _guess(client, "/login/", "alice", "pw-alice-123").status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_the_limit_is_per_username(handler, alice, bob):
    for i in range(10):
        _guess(Client(REMOTE_ADDR=f"10.0.0.{i}"), "/login/", "alice", "wrong")
    # Every new address is refused for alice, still welcome for bob.
    assert (
        _guess(Client(REMOTE_ADDR="10.9.9.9"), "/login/", "alice", "pw-alice-123").status_code
        == 429
    )
    assert _guess(Client(REMOTE_ADDR="10.9.9.9"), "/login/", "bob", "pw-bob-123").status_code == 302


@pytest.mark.parametrize("behind", [False, True])
def test_the_limit_is_per_address_and_a_forged_header_does_not_reset_it(
    handler, settings, alice, behind
):
    settings.BEHIND_PROXY = behind
    client = Client()
    for i in range(10):  # a new username, and a new forged header, each time
        forged = {"HTTP_X_FORWARDED_FOR": f"6.6.6.{i}, 203.0.113.9"}
        _guess(client, "/login/", f"user{i}", "wrong", **forged)
    again = _guess(
        client, "/login/", "alice", "pw-alice-123", HTTP_X_FORWARDED_FOR="7.7.7.7, 203.0.113.9"
    )
    assert again.status_code == 429
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    header = {"HTTP_X_FORWARDED_FOR": "198.51.100.1"} if behind else {}
    assert _guess(elsewhere, "/login/", "alice", "pw-alice-123", **header).status_code == 302


@pytest.mark.parametrize("scheme", ["Token", "Api-Key"])
def test_repeated_bad_api_credentials_get_429(handler, iris_version, alice, scheme):
    prober = client_for(None)
    prober.credentials(HTTP_AUTHORIZATION=f"{scheme} not-a-real-credential")
    codes = [prober.get("/api/predictions/").status_code for _ in range(14)]
    assert codes[:9] == [401] * 9 and set(codes[10:]) == {429}
    refused = prober.get("/api/predictions/")
    assert "Too many failed logins" in refused.json()["detail"] and refused["Retry-After"]
    # A valid token is never slowed by the limit.
    assert client_for(alice).get("/api/predictions/").status_code == 200
