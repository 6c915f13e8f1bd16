"""Cells of every CSV the service writes: text a spreadsheet would run as a formula is defused.

OWASP "CSV injection": a cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage
return opens as a formula. Such text gets a leading `'`; numbers stay numbers (`-1.5`).
"""

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\Z")


def cell(*, value):
    """One value as a safe CSV cell (None → empty)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def row(*, values) -> list:
    """A row of safe cells."""
    return [cell(value=v) for v in values]
