"""What every target kind shares: settings plumbing, the lazily connected client, and down-marking."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from healthgate.errors import AuthFailed, CheckError, TargetDown, Unreachable
from healthgate.units import Duration
from healthgate.vocabulary import POST_DEPLOY, POST_RECOVERY, Phase, Severity

# Both stop further attempts: an unreachable target would only make each check wait out its timeout, and
# repeating a refused login can lock the monitoring account on servers with lockout policies.
_STOP_TRYING = (Unreachable, AuthFailed)

class Model(BaseModel):
    """Profiles are typed and closed: an unknown key is a typo, and a typo must be an error. ``.nan`` and ``.inf``
    are refused too: no threshold compares sensibly with them, so they would only surface mid-run."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Timeouts(Model):
    connect: Duration = Field(3.0, gt=0, description="TCP/TLS connect timeout for every call to the target")
    read: Duration = Field(10.0, gt=0, description="read/statement timeout for every call to the target")


class Eventually(Model):
    """Retry a failing check until it passes or ``within`` elapses (replaces ``sleep 30 && health_check``): a
    post-deployment wait, one window per target."""

    within: Duration = Field(gt=0)
    every: Duration = Field(2.0, gt=0)
    phases: tuple[Phase, ...] = Field((POST_DEPLOY, POST_RECOVERY),
                                      description="phases that wait; in the others a check judges at once")


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

    def address(self) -> str:
        """Where the target lives, without credentials; used in reprs and messages."""
        return ""

    def warnings(self, target_id: str) -> list[str]:
        """What every check of this target must say even when it passes: a setting that weakens what it sees."""
        if getattr(self, "verify_tls", True) is False:
            return [f"TLS verification disabled for {target_id} (verify_tls: false): certificates are not checked"]
        return []


class Client:
    """Base of every read-only client. Counts connection attempts so tests can prove fail-fast behaviour."""

    def __init__(self, settings: Any, timeouts: Timeouts) -> None:
        self.settings = settings
        self.timeouts = timeouts
        self.connect_attempts = 0

    def close(self) -> None:  # pragma: no cover - trivial default
        """Release connections; clients that hold one override this."""


SettingsT = TypeVar("SettingsT", bound=TargetSettings)
ClientT = TypeVar("ClientT", bound=Client)


class Target(Generic[SettingsT, ClientT]):
    """One named target of the active profile, as a check sees it: ``Target[Settings, Client]`` of its kind, so a
    check's ``postgres.client.active_queries()`` is type-checked.

    Creating it touches nothing; the client connects on first use, so ``--collect-only`` never opens a socket.
    """

    def __init__(self, kind: str, name: str, settings: SettingsT, timeouts: Timeouts) -> None:
        self.kind = kind
        self.name = name
        self.settings = settings
        self.timeouts = settings.timeouts or timeouts
        self._client: ClientT | None = None
        self._down: str | None = None
        self._down_cause: Exception | None = None
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
        verdict = getattr(error, "down_verdict", "was found unreachable")
        self._down = f"{verdict} earlier in this run: {error}"
        self._down_cause = error

    def reset(self) -> None:
        """Forget a previous down verdict and connection (used before each retry of an ``eventually`` check)."""
        self._down = None
        self._down_cause = None
        self.close()

    @property
    def client(self) -> ClientT:
        """The kind's client, behind a guard that marks this target down on the first unreachable answer or
        refused login (its other checks then fail at once, without a new connection)."""
        if self._down is not None:
            down = TargetDown(f"{self.id} {self._down}", hint="no new connection attempted; fix that first")
            down.cause = self._down_cause if isinstance(self._down_cause, CheckError) else None
            raise down
        if self._client is None:
            from healthgate.targets import client_class

            self._client = client_class(self.kind)(self.settings, self.timeouts)
        return cast(ClientT, _Guarded(self, self._client))

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

    def __init__(self, target: Target[Any, Any], client: Client) -> None:
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
