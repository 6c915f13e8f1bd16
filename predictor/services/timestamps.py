"""ISO 8601 timestamps from clients, parsed strictly (a bad one is a 400 naming its field)."""

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from predictor.services.errors import InvalidInput

MAX_OFFSET = timedelta(hours=14)  # the widest UTC offset in use (Kiribati)
_ISO = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)"
    r"(?P<tz>Z|z|[+\- ]\d{2}:?\d{2})?)?\Z"
)


def timestamp_parse(*, text, field: str) -> datetime:
    """An aware datetime from `YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|±HH:MM]`.

    No offset means the server's time zone. An unencoded `+` in a query string arrives as
    a space, so ` HH:MM` is read as `+HH:MM`. Offsets beyond ±14:00 are refused.
    """
    problem = (
        f"{field}: {str(text)[:40]!r} is not an ISO 8601 timestamp "
        "(e.g. 2026-01-31 or 2026-01-31T12:00:00+01:00)"
    )
    match = _ISO.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(problem, field=field)
    tz = match["tz"]
    if tz and tz[0] == " ":
        tz = "+" + tz[1:]
    value = f"{match['date']}T{match['time'] or '00:00'}" + ("+00:00" if tz in ("Z", "z") else "")
    if tz and tz not in ("Z", "z"):
        value += tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(problem, field=field) from None
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise InvalidInput(f"{field}: the UTC offset {tz} is beyond ±14:00", field=field)
    try:
        if offset is None:
            parsed = timezone.make_aware(parsed)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{field}: {text!r} is out of range", field=field) from None
