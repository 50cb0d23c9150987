"""What every target kind shares: settings plumbing, the lazily connected client, and down-marking."""

from __future__ import annotations

import functools
import ssl
import threading
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from healthgate.errors import AuthFailed, TargetDown, Unreachable
from healthgate.units import Duration

# Both stop further attempts: an unreachable target would only make each check wait out its timeout, and
# repeating a refused login can lock the monitoring account on servers with lockout policies.
_STOP_TRYING = (Unreachable, AuthFailed)

Phase = Literal["pre_deploy", "post_deploy", "post_recovery", "daily", "restore_drill"]
Severity = Literal["critical", "warning"]
PHASES: tuple[str, ...] = ("pre_deploy", "post_deploy", "post_recovery", "daily", "restore_drill")


class Model(BaseModel):
    """Profiles are typed and closed: an unknown key is a typo, and a typo must be an error. ``.nan`` and ``.inf``
    are refused too: no threshold compares sensibly with them, so they would only surface mid-run."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Timeouts(Model):
    connect: Duration = Field(3.0, gt=0, description="TCP/TLS connect timeout for every call to the target")
    read: Duration = Field(10.0, gt=0, description="read/statement timeout for every call to the target")


class Eventually(Model):
    """Retry a failing check until it passes or ``within`` elapses (replaces ``sleep 30 && health_check``)."""

    within: Duration = Field(gt=0)
    every: Duration = Field(2.0, gt=0)


class CheckOverride(Model):
    enabled: bool = True
    phases: tuple[Phase, ...] | None = Field(None, description="replaces the check's default phases")
    severity: Severity | None = None
    eventually: Eventually | None = None


class TargetSettings(Model):
    """Fields every target kind accepts; each kind adds its address, credentials and ``thresholds``."""

    description: str = ""
    timeouts: Timeouts | None = Field(None, description="overrides the profile's timeouts for this target")
    eventually: Eventually | None = Field(None, description="retry policy for every check of this target")
    checks: dict[str, CheckOverride] = Field(default_factory=dict, description="per-check overrides")
    tags: tuple[str, ...] = ()

    def address(self) -> str:
        """Where the target lives, without credentials; used in reprs and messages."""
        return ""


class Client:
    """Base of every read-only client. Counts connection attempts so tests can prove fail-fast behaviour."""

    def __init__(self, settings: Any, timeouts: Timeouts) -> None:
        self.settings = settings
        self.timeouts = timeouts
        self.connect_attempts = 0

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release connections; clients that hold one override this."""


class Target:
    """One named target of the active profile, as a check sees it.

    Creating it touches nothing; the client connects on first use, so ``--collect-only`` never opens a socket.
    """

    registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, kind: str, name: str, settings: TargetSettings, timeouts: Timeouts) -> None:
        self.kind = kind
        self.name = name
        self.settings = settings
        self.timeouts = settings.timeouts or timeouts
        self._client: Client | None = None
        self._down: str | None = None
        self.connect_attempts_seen = 0

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def thresholds(self) -> Any:
        return getattr(self.settings, "thresholds", None)

    def __repr__(self) -> str:
        address = self.settings.address()
        return f"<{self.kind} {self.name}{' ' + address if address else ''}>"

    @property
    def is_down(self) -> bool:
        return self._down is not None

    def mark_down(self, error: Exception) -> None:
        verdict = "refused our credentials" if isinstance(error, AuthFailed) else "was found unreachable"
        self._down = f"{verdict} earlier in this run: {error}"

    def reset(self) -> None:
        """Forget a previous down verdict and connection (used before each retry of an ``eventually`` check)."""
        self._down = None
        self.close()

    @property
    def client(self) -> Any:
        if self._down is not None:
            raise TargetDown(f"{self.id} {self._down}", hint="no new connection attempted; fix that first")
        if self._client is None:
            from healthgate.targets import client_class

            self._client = client_class(self.kind)(self.settings, self.timeouts)
        return _Guarded(self, self._client)

    @property
    def connect_attempts(self) -> int:
        return self.connect_attempts_seen + (self._client.connect_attempts if self._client else 0)

    def close(self) -> None:
        if self._client is not None:
            self.connect_attempts_seen += self._client.connect_attempts
            try:
                self._client.close()
            finally:
                self._client = None


class _Guarded:
    """Forwards to the real client and turns the first ``Unreachable`` into a down mark for the target."""

    def __init__(self, target: Target, client: Client) -> None:
        self._target = target
        self._client = client

    def __getattr__(self, name: str) -> Any:
        try:
            attribute = getattr(self._client, name)
        except _STOP_TRYING as exc:
            self._target.mark_down(exc)
            raise
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except _STOP_TRYING as exc:
                self._target.mark_down(exc)
                raise

        return guarded


@functools.lru_cache(maxsize=32)
def trust_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA bundle, shared by every target that uses it: building one costs ~15 ms
    and ~0.8 MB, which a fleet of a thousand targets would otherwise pay a thousand times. The system trust store
    (not certifi's bundle, which httpx would use) unless the target names its own ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file)


def http_client(settings: Any, timeouts: Timeouts, *, base_url: str, auth: Any = None, json_api: bool = False) -> Any:
    """An httpx client as every HTTP-speaking kind needs it: the profile's connect and read timeouts, the target's
    headers and bearer token, the system trust store (or its ``ca_file``) unless verification is switched off for
    that target, and no redirects followed (a health endpoint that redirects is itself a finding)."""
    import httpx

    headers = {"Accept": "application/json"} if json_api else {}
    headers.update(getattr(settings, "headers", {}) or {})
    token = getattr(settings, "token", None)
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    verify: Any = trust_context(getattr(settings, "ca_file", None)) if settings.verify_tls else False
    return httpx.Client(base_url=base_url, headers=headers, auth=auth, verify=verify,
                        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect), follow_redirects=False)
