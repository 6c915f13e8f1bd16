"""Request parsers that refuse hostile bodies with a 4xx instead of failing later."""

import codecs
import json
import re
import sys

import orjson
from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser

from mlsite import perf

MAX_DEPTH = 64


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def read_capped(stream) -> bytes:
    limit = settings.REQUEST_MAX_BODY_BYTES
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes.")
    return data


FLOAT64_MAX = sys.float_info.max


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON: numbers must be finite")


def _parse_int(text: str) -> int:
    # Refused before Python builds a huge int (or numpy ever sees one).
    digits = len(text.lstrip("-"))
    if digits > 309 or abs(int(text)) > FLOAT64_MAX:
        raise ValueError(
            f"the number {text[:20]}… ({digits} digits) is outside the range of a 64-bit float"
        )
    return int(text)


def check_structure(value, limit: int = MAX_DEPTH) -> None:
    """Depth and NUL characters, iteratively, so a deep document cannot exhaust the stack.
    Scalars are looked at where they stand; only containers go on the stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ParseError(f"JSON is nested more than {limit} levels deep.")
        if isinstance(item, dict):
            for key in item:
                if "\x00" in key:
                    raise ParseError(f"NUL characters are not allowed (in the key {key!r}).")
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif isinstance(child, str) and "\x00" in child:
                raise ParseError(f"NUL characters are not allowed (in the text {child[:40]!r}).")


_CONTAINERS = frozenset((dict, list))


def check_depth(value, limit: int = MAX_DEPTH) -> None:
    """Depth only, level by level: `check_structure` for a document known to hold no NUL.
    A container whose children are all scalars is passed over in C (`isdisjoint` over
    their types), so a batch of flat rows costs one C loop per row."""
    level, depth = [value], 1
    while level:
        if depth > limit:
            raise ParseError(f"JSON is nested more than {limit} levels deep.")
        below = []
        for item in level:
            children = item.values() if type(item) is dict else item
            if not _CONTAINERS.isdisjoint(map(type, children)):
                below += [c for c in children if type(c) is dict or type(c) is list]
        level, depth = below, depth + 1


# An integer orjson would read as a float (beyond 64 bits), or may (19 digits or more):
# 19 digits in a row, found by turning every digit into "0" and looking for 19 zeros (a
# regular expression took 1.3 ms on a 1,000-row batch of records, longer than orjson's
# parse of it; this takes 0.2 ms).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def _long_digits(text: str) -> bool:
    return _LONG_RUN in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Kept. Measured alone, the parse itself (2026-12-07, best of 5): a 1,000-row body in
# 0.50 ms against the standard library's 2.85 ms, one row in 0.6 µs against 6.2 µs. The
# server trial (bench/RESULTS.md "Overrides on trial") could not show it beyond its noise
# (±25-38% req/s): 2 ms in a request of tens of ms at 1,000 rows.
_ORJSON = perf.on("orjson_parse")  # off: every document read by the standard library


def _loads(text: str):
    """The document, by orjson (about four times faster than the standard library on a
    1,000-row batch); the standard library words the error users see when orjson refuses
    a document, and reads the documents orjson would read otherwise (integers of 19 digits
    or more stay integers, with `_parse_int`'s limit). A text with an unpaired surrogate
    (`"\\ud800"`) is refused: no model, log or response can hold one."""
    if _ORJSON and not _long_digits(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if "surrogate" in str(exc):
                raise ValueError(str(exc)) from None
    data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("the text holds an unpaired surrogate (\\ud800-\\udfff)") from None
    return data


class SafeJSONParser(JSONParser):
    """JSON with a size cap, no NaN/Infinity, and a depth limit (deep nesting → 400, not 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = read_capped(stream)
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"The body is not valid {encoding} text.") from None
        try:
            data = _loads(text)
        except RecursionError:
            raise ParseError(f"JSON is nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        if isinstance(data, (dict, list)):
            # JSON can carry a NUL only as the escape \u0000 (json.loads refuses a raw
            # control character): without one, only the depth is left to check.
            if "\\u0000" in text:
                check_structure(data)
            else:
                check_depth(data)
        elif isinstance(data, str) and "\x00" in data:
            raise ParseError("NUL characters are not allowed in the body.")
        return data


class AnyAsJSONParser(SafeJSONParser):
    """V2 clients (tritonclient) post JSON without naming it: read any body as JSON."""

    media_type = "*/*"


class CSVParser(BaseParser):
    """A text/csv body: a header row of feature names, then one row per prediction."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_capped(stream)
        try:
            return {"__csv__": raw.decode("utf-8-sig")}
        except UnicodeDecodeError:
            raise ParseError("The CSV body is not UTF-8 text.") from None
