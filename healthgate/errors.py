"""The two ways a check can go wrong besides passing, kept apart on purpose.

An assertion (``expect``) means *the target is unhealthy* (Allure: failed). A ``CheckError`` means *we could not
look* (Allure: broken): unreachable, refused credentials, a timeout, garbage where data was expected.
"""

from __future__ import annotations

from typing import Any


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as a message quotes it: its repr, cut short, and never the repr of a huge integer (which raises
    beyond 4,300 digits), so that a hostile value cannot make the message about it fail or flood the terminal."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


class CheckError(Exception):
    """We could not observe the target. Says what was attempted and what to try."""

    category = "could not check"
    # How the rest of the run names a target this error marked down (see ``Target.mark_down``).
    down_verdict = "was found unreachable"

    def __init__(self, what: str, *, hint: str = "") -> None:
        from healthgate.redact import redact

        self.what = redact(what)
        self.hint = redact(hint)
        super().__init__(self.what + (f" — {self.hint}" if self.hint else ""))


class Unreachable(CheckError):
    """Connecting or reading timed out or was refused. Marks the target down for the rest of the run, so its
    other checks fail at once with the same reason instead of each waiting out its own timeout."""

    category = "unreachable"


class AuthFailed(CheckError):
    category = "auth"
    down_verdict = "refused our credentials"


class PermissionMissing(CheckError):
    """The monitoring credentials lack a privilege; the message names the grant."""

    category = "permission"


class BadResponse(CheckError):
    """The target answered, but not with what its API promises (non-JSON, wrong shape, truncated)."""

    category = "bad response"


class MissingPath(CheckError):
    """A configured path is not there: the profile is wrong for this host, or a volume is not mounted."""

    category = "missing path"


class PoolExhausted(Unreachable):
    """The server answered but turned the login away because every connection slot open to this role is taken
    (PostgreSQL: "sorry, too many clients already", "remaining connection slots are reserved for ...").

    For the check that watches the connection pool this *is* the verdict (the pool is exhausted), so it turns the
    error into a failure; every other check of the target could not look, for that reason. It marks the target down
    like any ``Unreachable``: logging in again would only take a slot back from the application once one frees.
    """

    category = "pool exhausted"
    down_verdict = "had no connection slot left for us"

    def __init__(self, what: str, *, hint: str = "", refusal: str = "") -> None:
        super().__init__(what, hint=hint)
        from healthgate.redact import redact

        self.refusal = redact(refusal)  # the server's own words, e.g. "remaining connection slots are reserved ..."


class TargetDown(Unreachable):
    """Raised without any network call once a target has been found unreachable in this worker; ``cause`` is the
    error that marked it down, so a check can still judge it (a refused login is the connection check's verdict)."""

    cause: CheckError | None = None


class ProfileError(Exception):
    """A profile cannot be used. Names the file, the line when known, the key path, the bad value and the
    accepted form, so the fix is obvious from the message alone. Message and hint are redacted: the bad value may
    be a DSN with its password (the key path is not, or ``token: <message>`` would read as a credential)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: tuple[str | int, ...] = (),
        hint: str = "",
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        self.hint = hint
        super().__init__(message)  # the full text is made when shown: a hostile profile may raise thousands

    @property
    def key_path(self) -> str:
        parts = [p if isinstance(p, str) and p and "." not in p and p.strip() == p else shown(p) for p in self.path]
        return ".".join(parts) or "(top level)"

    def __str__(self) -> str:
        where = self.file or "<profile>"
        if self.line is not None:
            where += f":{self.line}"
        from healthgate.redact import redact

        text = f"{where}: {self.key_path}: {redact(self.message)}"
        if self.hint:
            text += f" ({redact(self.hint)})"
        return text
