"""A person's own API token (DRF `authtoken`): obtained with a password, shown, replaced."""

from django.apps import apps
from django.contrib.auth import authenticate
from django.db import transaction

from predictor.services import logins
from predictor.services.errors import InvalidInput, ServiceError


def _tokens():
    # DRF's `authtoken` model (the API's `Authorization: Token`), by its app label: the core
    # stays free of the API framework's imports.
    return apps.get_model("authtoken", "Token")


class LoginLimited(ServiceError):
    """Refused by the login limit (django-axes) before the password was looked at."""

    status_code = 429


def token_of(*, user):
    """The user's token, or None when they have none."""
    return _tokens().objects.filter(user=user).first()


def token_obtain(*, request, username: str, password: str):
    """The token of the user these credentials name, made on first use. Goes through
    `authenticate(request=...)`, so the login limits count and refuse it like any login;
    a wrong password and an unknown username are refused alike."""
    user = authenticate(request=request, username=username, password=password)
    if getattr(request, "axes_locked_out", False) or getattr(request, "login_limited", False):
        raise LoginLimited(logins.message(request=request))
    if user is None or not user.is_active:
        raise InvalidInput("Unable to log in with the username and password given.")
    token, _ = _tokens().objects.get_or_create(user=user)
    return token


@transaction.atomic
def token_replace(*, user):
    """A new token for the user; the old key (if any) stops working."""
    _tokens().objects.filter(user=user).delete()
    return _tokens().objects.create(user=user)
