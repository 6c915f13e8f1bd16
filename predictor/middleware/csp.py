"""The Content-Security-Policy header (django-csp), its usual value built once per process."""

import functools

from csp import middleware as csp_middleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed

_PER_RESPONSE = tuple(
    f"_csp_{part}{ro}" for part in ("config", "update", "replace") for ro in ("", "_ro")
)


@functools.cache
def _policies() -> tuple[str, tuple, str, tuple]:
    """The header values of the settings' policy and report-only policy, and the URL
    prefixes each leaves out: built once (until a setting changes, in tests)."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or {}
    return (
        build_policy(),
        tuple(policy.get("EXCLUDE_URL_PREFIXES", None) or ()),
        build_policy(report_only=True),
        tuple(report_only.get("EXCLUDE_URL_PREFIXES", None) or ()),
    )


def _policies_forget(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _policies.cache_clear()


setting_changed.connect(_policies_forget)


class CSPMiddleware(csp_middleware.CSPMiddleware):
    """django-csp's middleware, except that a response which changes nothing in the policy
    (no nonce asked for, no per-view decorator) gets the headers built once per process:
    django-csp builds them anew for every response, about a tenth of a one-row prediction's
    CPU here. Every other response goes through django-csp's own code."""

    def process_response(self, request, response):
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _PER_RESPONSE
        ):
            return super().process_response(request, response)
        if response.status_code in (404, 500) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        policy, excluded, report_only, excluded_ro = _policies()
        path = request.path_info
        for header, value, exempt, prefixes in (
            (HEADER, policy, "_csp_exempt", excluded),
            (HEADER_REPORT_ONLY, report_only, "_csp_exempt_ro", excluded_ro),
        ):
            if (
                value
                and header not in response
                and not getattr(response, exempt, False)
                and not path.startswith(prefixes)
            ):
                response[header] = value
        # As django-csp does: asking for a nonce after the header is written is an error.
        request.csp_nonce = csp_middleware.CheckableLazyObject(self._csp_nonce_post_response)
        return response
