"""POST /api/auth/token/: a username and password give the user's own DRF token; wrong
credentials give none and count towards the login limits."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _ask(username, password, client=None):
    return (client or APIClient()).post(
        URL, {"username": username, "password": password}, format="json"
    )


def test_the_right_password_gives_the_users_own_token_which_works(alice):
    answer = _ask("alice", "pw-alice-123")
    assert answer.status_code == 200
    assert answer.json() == {"token": Token.objects.get(user=alice).key}
    again = _ask("alice", "pw-alice-123")
    assert again.json()["token"] == answer.json()["token"]  # the same token, not a new one
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + answer.json()["token"])
    assert client.get("/api/predictions/").status_code == 200


def test_a_wrong_password_gives_400_and_no_token_and_does_not_say_who_exists(alice):
    wrong = _ask("alice", "nope")
    nobody = _ask("nobody-here", "nope")
    assert wrong.status_code == nobody.status_code == 400
    assert "non_field_errors" in wrong.json() and wrong.json() == nobody.json()
    assert "token" not in wrong.json() and not Token.objects.filter(user=alice).exists()


def test_missing_fields_are_named():
    answer = APIClient().post(URL, {"username": "alice"}, format="json")
    assert answer.status_code == 400 and "password" in answer.json()
    assert APIClient().post(URL, {"username": 5, "password": "x"}, format="json").status_code == 400


def test_ten_failures_then_even_the_right_password_is_refused(alice):
    codes = [_ask("alice", f"wrong-{i}").status_code for i in range(10)]
    assert codes[:9] == [400] * 9 and codes[9] in (400, 429)
    eleventh = _ask("alice", "pw-alice-123")
    assert eleventh.status_code == 429 and "token" not in eleventh.json()
    assert "Too many failed logins" in eleventh.json()["detail"]
    assert not Token.objects.filter(user=alice).exists()


def test_get_is_not_allowed():
    assert APIClient().get(URL).status_code == 405


def test_the_operation_is_in_the_openapi_schema():
    schema = APIClient().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/auth/token/"]["post"]
    assert operation["tags"] == ["auth"]


def test_the_readme_example_works_with_the_account_ensure_admin_prints(db):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ensure_admin", stdout=out)
    printed = out.getvalue()
    assert ".venv/bin/python manage.py changepassword admin" in printed
    password = printed.split("password '")[1].split("'")[0]
    answer = _ask("admin", password)
    assert answer.status_code == 200 and len(answer.json()["token"]) == 40
    again = StringIO()
    call_command("ensure_admin", stdout=again)
    assert ".venv/bin/python manage.py changepassword admin" in again.getvalue()
