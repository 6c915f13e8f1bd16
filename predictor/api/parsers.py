"""Request parsers that refuse hostile bodies with a 4xx instead of failing later."""

import codecs
import json
import sys

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser, JSONParser

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
            data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
        except RecursionError:
            raise ParseError(f"JSON is nested more than {MAX_DEPTH} levels deep.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error: {exc}") from None
        if isinstance(data, (dict, list)):
            check_structure(data)
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
