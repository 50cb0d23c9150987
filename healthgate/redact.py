"""Keeps secrets out of every message, id, log line and attachment the suite produces.

Two layers: credentials embedded in URLs/DSNs are masked by shape, and every secret value the profile loaded
(passwords, tokens, anything interpolated from a secret-looking variable) is registered and masked by value, so a
server that echoes a password back in an error message cannot leak it either.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

MASK = "***"

# scheme://user:password@host  →  scheme://user:***@host
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@")
# key=value DSN fragments (libpq) and query strings
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key)\s*[=:]\s*)"
    r"(?:'[^']*'|\"[^\"]*\"|[^'\"\s&,;}]+)"
)
_BEARER = re.compile(r"(?i)(?P<key>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")

SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|credential|private|auth|dsn|uri)")

_lock = threading.Lock()
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that any later output containing it is masked. Short values are ignored because
    masking every occurrence of, say, ``a`` would garble output without protecting anything."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def forget_secrets() -> None:
    with _lock:
        _known.clear()


def _mask_value(match: re.Match[str]) -> str:
    value = match.group(0)[len(match["key"]):]
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match['key']}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """Mask credentials in ``text`` by shape and by known value."""
    if not text:
        return text
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KEY_VALUE.sub(lambda m: _mask_value(m), text)
    text = _BEARER.sub(lambda m: f"{m['key']}{MASK}", text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def url_password(url: str) -> str | None:
    match = _URL_USERINFO.search(url)
    return match["pw"] if match else None
