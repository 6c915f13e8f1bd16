"""Login limits (django-axes): failed logins at the site, the admin and bad API credentials
are counted per username and per client address (`audit.client_address`); after
`LOGIN_FAILURE_LIMIT` of them the username, or the address, is refused for
`LOGIN_COOLOFF_MINUTES`, and the right password works again after that.

The counts live in the cache when it is one all server processes share (Redis, Memcached,
the database cache), else in axes' database table (settings: AXES_HANDLER). Nothing here
holds state of its own.
"""

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessBase
from django.conf import settings


def lockout_parameters(request_or_attempt, credentials=None) -> list:
    """Count per username and per address; without a username (a bad token) per address
    only, so that failures without one do not share a single count across all clients."""
    if isinstance(request_or_attempt, AccessBase):
        username = request_or_attempt.username
    else:
        username = get_client_username(request_or_attempt, credentials)
    return ["username", "ip_address"] if username else ["ip_address"]


def cool_off_seconds(*, request=None) -> int:
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def message(*, request=None) -> str:
    minutes = max(1, round(cool_off_seconds(request=request) / 60))
    return (
        f"Too many failed logins for this username or from this address: try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}."
    )


def credentials_failed(*, request, username: str | None = None) -> bool:
    """Count failed API credentials (a bad token or API key) of this client; True when the
    client is now refused (for the rest of the cool-off)."""
    if not settings.AXES_ENABLED:
        return False
    credentials = {settings.AXES_USERNAME_FORM_FIELD: username}
    AxesProxyHandler.user_login_failed("api", credentials=credentials, request=request)
    return bool(getattr(request, "axes_locked_out", False))


def credentials_refused(*, request, username: str | None = None) -> bool:
    """Whether this client (and username) is refused by the login limit right now."""
    if not settings.AXES_ENABLED:
        return False
    credentials = {settings.AXES_USERNAME_FORM_FIELD: username}
    return not AxesProxyHandler.is_allowed(request, credentials)


class LimitedBackend(AxesStandaloneBackend):
    """Refuses a login while its username or client address is over the limit (before the
    password is checked), and marks the request so the audit trail and the page know."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None  # not a request (a shell, Client.login): nothing to count it by
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            request.login_limited = True
            raise
