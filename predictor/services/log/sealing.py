"""Sensitive features in the prediction log: encrypted at rest, or redacted.

A registered model lists its sensitive features (`RegisteredModel.sensitive`), followed
by every version and shadow of it. When their rows are logged, those values leave `inputs`
(which holds `REDACTED` in their place) and are encrypted together into the row's `sealed` column with the first key of
`PREDICTION_LOG_KEYS` (Fernet; every key of the list decrypts, so keys can rotate). With no
key set they are not stored at all. Only staff asking for it see them again (`unseal`).
"""

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

REDACTED = "***"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet | None:
    if not keys:
        return None
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet | None:
    return _fernet(tuple(settings.PREDICTION_LOG_KEYS))


def seal(record: dict, sensitive: list[str]) -> tuple[dict, str]:
    """(the record to store, its sealed token) — the record unchanged when nothing in it
    is sensitive."""
    present = [name for name in sensitive if name in record]
    if not present:
        return record, ""
    clear = {name: record[name] for name in present}
    stored = {**record, **dict.fromkeys(present, REDACTED)}
    box = fernet()
    token = box.encrypt(json.dumps(clear).encode()).decode() if box is not None else ""
    return stored, token


def unseal(inputs: dict, sealed: str) -> dict:
    """The inputs with their sensitive values decrypted (left `REDACTED` when they were
    never stored or no key of the list opens them)."""
    box = fernet()
    if not sealed or box is None:
        return inputs
    try:
        clear = json.loads(box.decrypt(sealed.encode()))
    except InvalidToken:
        return inputs
    return {**inputs, **clear}
