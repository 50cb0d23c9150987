"""Keeps secrets out of every message, id, log line and attachment the suite produces.

Two layers: credentials embedded in URLs/DSNs are masked by shape, and every secret value the profile loaded
(passwords, tokens, credential-carrying headers, the password of any URL or DSN, anything interpolated from a
secret-looking variable; written literally or read from the environment alike) is registered and masked by value,
so a server that echoes a password back in an error message cannot leak it either.

Every function here runs in time linear in its input: profiles and server answers are not trusted to be small or
well-formed, and a regex that backtracks over a long line would stall the run that is supposed to report on it.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable

MASK = "***"

# scheme://user:password@host  →  scheme://user:***@host. Found from each "://" rather than by one regex: a
# regex that starts with the scheme retries it at every letter of a long word, quadratic in the word's length.
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_USER = re.compile(r"[^:/@\s]*:")
_PASSWORD = re.compile(r"[^@/\s]+(?=@)")
# key=value DSN fragments (libpq) and query strings
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key)\s*[=:]\s*)"
    r"(?:'[^']*'|\"[^\"]*\"|[^'\"\s&,;}]+)"
)
_BEARER = re.compile(r"(?i)(?P<key>\b(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{8,})")

SECRET_NAME = re.compile(r"(?i)(pass(word|wd)?|pwd|secret|token|api[_-]?key|credential|private|auth|dsn|uri)")
# Keys whose whole value is a credential: SECRET_NAME and cookies, but not addresses (a DSN or URL is masked by its
# password only, or every message naming the database would turn into ***).
_COOKIE_NAME = re.compile(r"(?i)cookie")
_ADDRESS_NAME = re.compile(r"(?i)(dsn|ur[il]s?)$")
_MAY_HOLD_CREDENTIALS = re.compile(r"[:=\s]")
# "Bearer abc", "Basic abc", "Token abc": a server may echo the credential without its scheme word
_AUTH_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*\s+(?P<credential>\S+)$")

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


def _url_password_spans(text: str) -> list[tuple[int, int]]:
    """Where the passwords of ``scheme://user:password@`` are, leftmost first, in one pass over ``text``."""
    spans = []
    done = 0  # text before this belongs to a password already found
    sep = text.find("://")
    while sep != -1:
        start = sep
        while start > done and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        # a scheme starts with a letter: skip the digits, '+', '.' and '-' that may lead the run
        while start < sep and not text[start].isalpha():
            start += 1
        user = _USER.match(text, sep + 3) if start < sep else None
        password = _PASSWORD.match(text, user.end()) if user else None
        if password:
            spans.append((password.start(), password.end()))
            done = password.end() + 1
            sep = text.find("://", done)
        else:
            sep = text.find("://", sep + 1)
    return spans


def redact(text: str) -> str:
    """Mask credentials in ``text`` by shape and by known value."""
    if not text:
        return text
    spans = _url_password_spans(text)
    if spans:
        parts, last = [], 0
        for begin, end in spans:
            parts += [text[last:begin], MASK]
            last = end
        text = "".join([*parts, text[last:]])
    text = _KEY_VALUE.sub(lambda m: _mask_value(m), text)
    text = _BEARER.sub(lambda m: f"{m['key']}{MASK}", text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def url_password(url: str) -> str | None:
    spans = _url_password_spans(url)
    return url[spans[0][0]:spans[0][1]] if spans else None


@functools.lru_cache(maxsize=1024)
def is_secret_key(key: str) -> bool:
    """Whether a value stored under ``key`` (a setting, a header name, a JSON field) is a credential as a whole."""
    return bool(SECRET_NAME.search(key) or _COOKIE_NAME.search(key)) and not _ADDRESS_NAME.search(key)


def credentials_in(key: str, value: str) -> list[str]:
    """The secrets a profile value holds: all of it under a secret key (``token``, ``X-Api-Key``, ``Cookie``), and
    wherever it sits, the passwords of URLs and DSNs and the values of ``password=``/``token=`` pairs in it."""
    if not _MAY_HOLD_CREDENTIALS.search(value):  # every shape below needs one of these; most values have none
        return [value] if is_secret_key(key) else []
    found = [value[begin:end] for begin, end in _url_password_spans(value)]
    for match in _KEY_VALUE.finditer(value):
        found.append(match.group(0)[len(match["key"]):].strip("'\""))
    found += [match["value"] for match in _BEARER.finditer(value)]
    if is_secret_key(key):
        found.append(value)
        if (scheme := _AUTH_SCHEME.match(value.strip())) is not None:
            found.append(scheme["credential"])
    return found
