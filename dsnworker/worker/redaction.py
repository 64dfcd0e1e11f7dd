"""Secrets kept out of everything the worker logs or prints.

Every secret the worker reads (passwords, client secrets, webhook signing secrets, access tokens) is
remembered here, and a logging filter replaces each one with `***` in messages, exception texts and
pass summaries: a server or token endpoint that echoes what it was sent (an `error_description`
quoting the client secret) cannot put it in the journal. Values shorter than `MIN_LENGTH` are not
redacted: replacing every "ab" in the logs would hide everything else and protect nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

MIN_LENGTH = 4
MASK = "***"

_known: set[str] = set()
_lock = threading.Lock()


def remember(secret: str) -> str:
    """Redact `secret` from now on; returns it (for `return remember(read())`)."""
    if len(secret) >= MIN_LENGTH:
        with _lock:
            _known.add(secret)
    return secret


def forget_all() -> None:
    """Forget every remembered secret (for tests)."""
    with _lock:
        _known.clear()


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every remembered secret (and those in `extra`) replaced by ***."""
    with _lock:
        secrets = _known | {value for value in extra if len(value) >= MIN_LENGTH}
    # longest first: a secret that contains another is masked whole
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFilter(logging.Filter):
    """Masks remembered secrets in a record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _known:
            return True
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        summary = getattr(record, "summary", None)
        if summary is not None:
            record.summary = _redact_values(summary)
        return True


def _redact_values(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redact_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_values(item) for item in value]
    return value
