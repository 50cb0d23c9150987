"""Redis servers: reachability, memory, evictions, replication, persistence, cache hygiene and latency.

The client sends only commands of ``READ_ONLY_COMMANDS`` (PING, INFO, SCAN, DBSIZE), so a least-privilege ACL
user is enough: ``ACL SETUSER healthgate on >pw -@all +@read -@dangerous +info +ping ~*``. ROLE and LATENCY are
``@admin``: replication facts come from ``INFO replication`` instead. Keys are counted with SCAN bounded by call
size, keys examined and time, never with KEYS, which blocks the server while it walks the whole keyspace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts
from healthgate.units import Duration, format_duration

READ_ONLY_COMMANDS = frozenset({"PING", "INFO", "SCAN", "DBSIZE"})
SCHEMES = ("redis", "rediss", "unix")
DEFAULT_PORT = 6379

# What an ACL user needs for each command the client sends (shown when the server answers NOPERM).
GRANTS = {"ping": "+ping", "info": "+info", "scan": "+@read", "dbsize": "+@read", "select": "+select"}


class CachePattern(Model):
    pattern: str = Field(description="SCAN MATCH glob, e.g. cache:*:expired")
    max: int = Field(ge=0, description="most keys allowed to match before the check fails")


class ScanLimits(Model):
    """Bounds of every SCAN walk, so counting keys never becomes a load on a large instance."""

    count: int = Field(500, ge=1, le=100_000, description="COUNT hint of each SCAN call")
    max_keys: int = Field(100_000, ge=1, description="stop after examining about this many keys")
    max_seconds: Duration = Field(2.0, description="stop after this long")


class RedisThresholds(Model):
    memory_used_pct: float = Field(80.0, gt=0, le=100,
                                   description="used_memory below this % of maxmemory (seeds: memory < 80 %)")
    max_evicted_keys: int = Field(0, ge=0, description="evicted_keys counter since start (INFO stats)")
    max_rejected_connections: int = Field(0, ge=0, description="rejected_connections counter since start")
    last_save_age: Duration = Field(26 * 3600.0, description="newest successful RDB save, when data changed since")
    ping_median: Duration = Field(0.010, description="median round trip of the PING samples")
    ping_max: Duration | None = Field(None, description="slowest PING sample allowed (unset: not judged)")


class Settings(TargetSettings):
    url: str = Field(description="redis://[user:password@]host:port/db (rediss:// for TLS, unix:///path.sock)")
    expect_role: Literal["master", "replica"] | None = Field(
        None, description="role the server must have; unset: a standalone master is not judged")
    min_replicas: int = Field(0, ge=0, description="replicas a master must have online")
    persistence: bool = Field(True, description="false for a pure cache without RDB/AOF: persistence checks skip")
    cache_patterns: tuple[CachePattern, ...] = Field((), description="key patterns counted with a bounded SCAN")
    scan: ScanLimits = ScanLimits()
    ping_samples: int = Field(7, ge=3, le=50, description="PINGs timed by the latency check")
    thresholds: RedisThresholds = RedisThresholds()

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in SCHEMES:
            raise ValueError(f"URL scheme must be one of {', '.join(SCHEMES)}, not {scheme or 'none'!r}; "
                             "e.g. redis://healthgate:${REDIS_PASSWORD}@cache.internal:6379/0")
        return value

    def address(self) -> str:
        return redis_address(self.url)

    @property
    def username(self) -> str:
        return urlsplit(self.url).username or "default"


def redis_address(url: str) -> str:
    """``redis://host:port/db`` without user or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = DEFAULT_PORT
    db = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{host}:{port}/{db}"


# ------------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Memory:
    used: int
    maxmemory: int  # 0 means no limit
    policy: str

    @property
    def used_pct(self) -> float | None:
        return None if self.maxmemory <= 0 else 100.0 * self.used / self.maxmemory


@dataclass(frozen=True)
class Counters:
    evicted_keys: int
    rejected_connections: int
    uptime_s: int


@dataclass(frozen=True)
class Replica:
    address: str
    state: str
    lag_s: int | None


@dataclass(frozen=True)
class Replication:
    role: str  # "master" or "replica" (INFO still says "slave")
    master_link_status: str | None
    master_address: str | None
    master_last_io_s: int | None
    replicas: tuple[Replica, ...]

    @property
    def online_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.state == "online")


@dataclass(frozen=True)
class Persistence:
    rdb_last_bgsave_status: str
    rdb_last_save_time: float
    rdb_changes_since_last_save: int
    rdb_bgsave_in_progress: bool
    aof_enabled: bool
    aof_last_write_status: str | None
    aof_last_bgrewrite_status: str | None
    server_time: float

    @property
    def last_save_age_s(self) -> float:
        return max(0.0, self.server_time - self.rdb_last_save_time)


@dataclass(frozen=True)
class ScanCount:
    pattern: str
    count: int  # COUNT hint of each call
    matched: int
    calls: int
    examined: int  # about: SCAN's COUNT is a hint of buckets visited per call
    elapsed_s: float
    complete: bool
    stopped_by: str | None  # "max_keys" or "max_seconds" when not complete
    db_keys: int | None = None


# -------------------------------------------------------------------------------------------- pure logic


def bounded_scan(page: Callable[[int], tuple[int, Sequence[Any]]], *, pattern: str, count: int, max_keys: int,
                 max_seconds: float, clock: Callable[[], float] = time.monotonic) -> ScanCount:
    """Walk a SCAN cursor until it returns to 0 or a bound is reached; ``page(cursor)`` does one call.

    SCAN may return a key twice while the keyspace rehashes: on a stable keyspace the count is exact.
    """
    started = clock()
    cursor = 0
    matched = calls = 0
    while True:
        cursor, keys = page(cursor)
        calls += 1
        matched += len(keys)
        elapsed = clock() - started
        if cursor == 0:
            return ScanCount(pattern, count, matched, calls, calls * count, elapsed, True, None)
        if calls * count >= max_keys:
            return ScanCount(pattern, count, matched, calls, calls * count, elapsed, False, "max_keys")
        if elapsed >= max_seconds:
            return ScanCount(pattern, count, matched, calls, calls * count, elapsed, False, "max_seconds")


def median(samples: Sequence[float]) -> float:
    if not samples:
        raise ValueError("no samples")
    return float(statistics.median(samples))


def replication_from_info(info: dict[str, Any]) -> Replication:
    role = str(info.get("role", ""))
    if role == "slave":
        role = "replica"
    replicas = []
    for key, value in sorted(info.items()):
        if re.fullmatch(r"slave\d+", key) and isinstance(value, dict):
            lag = value.get("lag")
            replicas.append(Replica(f"{value.get('ip', '?')}:{value.get('port', '?')}",
                                    str(value.get("state", "?")), int(lag) if lag is not None else None))
    master = None
    if "master_host" in info:
        master = f"{info['master_host']}:{info.get('master_port', '?')}"
    last_io = info.get("master_last_io_seconds_ago")
    return Replication(
        role=role,
        master_link_status=str(info["master_link_status"]) if "master_link_status" in info else None,
        master_address=master,
        master_last_io_s=int(last_io) if last_io is not None else None,
        replicas=tuple(replicas),
    )


def persistence_from_info(info: dict[str, Any], server_time: float) -> Persistence:
    aof = bool(int(info.get("aof_enabled", 0)))
    return Persistence(
        rdb_last_bgsave_status=str(info.get("rdb_last_bgsave_status", "?")),
        rdb_last_save_time=float(info.get("rdb_last_save_time", 0)),
        rdb_changes_since_last_save=int(info.get("rdb_changes_since_last_save", 0)),
        rdb_bgsave_in_progress=bool(int(info.get("rdb_bgsave_in_progress", 0))),
        aof_enabled=aof,
        aof_last_write_status=str(info["aof_last_write_status"]) if aof and "aof_last_write_status" in info
        else None,
        aof_last_bgrewrite_status=str(info["aof_last_bgrewrite_status"])
        if aof and "aof_last_bgrewrite_status" in info else None,
        server_time=server_time,
    )


def grant_for(message: str) -> str:
    """The ACL grant a NOPERM message asks for, e.g. ``'config|set' command`` → ``+config|set``."""
    match = re.search(r"run the '([^']+)' command", message)
    if not match:
        return "<the command ACL LOG names>"
    command = match.group(1).lower()
    return GRANTS.get(command, f"+{command}")


# ------------------------------------------------------------------------------------------------ client


class Client(BaseClient):
    """One redis-py connection per target per worker, with connect/read timeouts and no retries.

    redis-py retries a failed connection 10 times with backoff by default; a health gate must report an
    unreachable server once, within its timeout, so retries are off.
    """

    settings: Settings

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._redis: Any = None

    # -- connection

    def _connection(self) -> Any:
        if self._redis is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            counting = self._counting_connection_class(urlsplit(self.settings.url).scheme)
            pool = redis.ConnectionPool.from_url(
                self.settings.url,
                connection_class=counting,
                socket_connect_timeout=self.timeouts.connect,
                socket_timeout=self.timeouts.read,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
                # CLIENT SETINFO is refused to a least-privilege user; not sending it keeps ACL LOG clean.
                driver_info=None,
                max_connections=2,
            )
            self._redis = redis.Redis(connection_pool=pool)
        return self._redis

    def _counting_connection_class(self, scheme: str) -> type:
        from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection

        base: type = {"rediss": SSLConnection, "unix": UnixDomainSocketConnection}.get(scheme, Connection)
        client = self

        class CountingConnection(base):
            def _connect(self) -> Any:
                client.connect_attempts += 1
                return super()._connect()

        return CountingConnection

    def _call(self, *args: Any) -> Any:
        import redis.exceptions as rex

        command = str(args[0]).upper()
        if command not in READ_ONLY_COMMANDS:
            raise ValueError(f"{command} is not a read-only command this client may send")
        where = self.settings.address()
        user = self.settings.username
        shown = " ".join(str(a) for a in args[:2])
        try:
            return self._connection().execute_command(*args)
        except rex.TimeoutError:
            self._drop()
            raise Unreachable(f"{shown} to {where} timed out (connect {self.timeouts.connect:g}s / read "
                              f"{self.timeouts.read:g}s)",
                              hint="is the server up, not paused or swapping, and reachable from here?") from None
        except rex.AuthenticationError as exc:
            self._drop()
            raise AuthFailed(f"{where} refused the credentials of user {user!r}: {exc}",
                             hint="check the URL's user and password, and that the ACL user is `on`") from None
        except rex.BusyLoadingError:
            self._drop()
            raise Unreachable(f"{where} is loading its dataset into memory and answers nothing else",
                              hint="wait for the load to finish (INFO persistence: loading:0)") from None
        except rex.ConnectionError as exc:
            self._drop()
            raise Unreachable(f"{shown} to {where} failed: {exc}",
                              hint="is the server up, and the URL's host and port right?") from None
        except rex.NoPermissionError as exc:
            grant = grant_for(str(exc))
            raise PermissionMissing(f"user {user!r} was refused by {where} while sending {shown}: {exc}",
                                    hint=f"grant it: ACL SETUSER {user} {grant}") from None
        except rex.RedisError as exc:
            raise BadResponse(f"{shown} on {where} answered an error: {type(exc).__name__}: {exc}",
                              hint="is this a Redis server (not a proxy without INFO support)?") from None

    def _drop(self) -> None:
        """Forget a connection that failed mid-way, so no later call reads a stale reply from it."""
        if self._redis is not None:
            # Closing a broken socket may fail again; the pool is dropped either way.
            with contextlib.suppress(Exception):
                self._redis.connection_pool.disconnect()
            self._redis = None

    def close(self) -> None:
        if self._redis is not None:
            try:
                self._redis.close()
                self._redis.connection_pool.disconnect()
            finally:
                self._redis = None

    # -- observations

    def ping(self) -> float:
        """Round trip of one PING in seconds (includes connecting when there was no connection yet)."""
        started = time.perf_counter()
        answer = self._call("PING")
        elapsed = time.perf_counter() - started
        if answer is not True and answer != "PONG":
            raise BadResponse(f"PING to {self.settings.address()} answered {answer!r} instead of PONG")
        return elapsed

    def ping_samples(self, n: int) -> list[float]:
        """``n`` PING round trips on an established connection (a first, untimed PING connects)."""
        self.ping()
        return [self.ping() for _ in range(n)]

    def info(self, section: str) -> dict[str, Any]:
        answer = self._call("INFO", section)
        if not isinstance(answer, dict):
            raise BadResponse(f"INFO {section} on {self.settings.address()} answered {str(answer)[:120]!r}")
        return answer

    def memory(self) -> Memory:
        info = self.info("memory")
        try:
            return Memory(int(info["used_memory"]), int(info.get("maxmemory", 0)),
                          str(info.get("maxmemory_policy", "?")))
        except KeyError as exc:
            raise BadResponse(f"INFO memory on {self.settings.address()} lacks {exc}") from None

    def counters(self) -> Counters:
        stats = self.info("stats")
        server = self.info("server")
        try:
            return Counters(int(stats["evicted_keys"]), int(stats["rejected_connections"]),
                            int(server.get("uptime_in_seconds", 0)))
        except KeyError as exc:
            raise BadResponse(f"INFO stats on {self.settings.address()} lacks {exc}") from None

    def replication(self) -> Replication:
        info = self.info("replication")
        if "role" not in info:
            raise BadResponse(f"INFO replication on {self.settings.address()} has no role field")
        return replication_from_info(info)

    def server_time(self) -> float:
        """The server's clock (INFO server ``server_time_usec``, Redis ≥ 7), else ours."""
        usec = self.info("server").get("server_time_usec")
        return int(usec) / 1e6 if usec is not None else time.time()

    def persistence(self) -> Persistence:
        info = self.info("persistence")
        if "rdb_last_bgsave_status" not in info:
            raise BadResponse(f"INFO persistence on {self.settings.address()} has no rdb_last_bgsave_status")
        return persistence_from_info(info, self.server_time())

    def dbsize(self) -> int:
        return int(self._call("DBSIZE"))

    def count_keys(self, pattern: str) -> ScanCount:
        """Keys of the URL's database matching ``pattern``, by a SCAN walk within ``settings.scan``."""
        limits = self.settings.scan

        def page(cursor: int) -> tuple[int, Sequence[Any]]:
            answer = self._call("SCAN", cursor, "MATCH", pattern, "COUNT", limits.count)
            try:
                next_cursor, keys = answer
                return int(next_cursor), keys
            except (TypeError, ValueError):
                raise BadResponse(f"SCAN on {self.settings.address()} answered {str(answer)[:120]!r}") from None

        result = bounded_scan(page, pattern=pattern, count=limits.count, max_keys=limits.max_keys,
                              max_seconds=limits.max_seconds)
        if result.complete:
            return result
        return dataclasses.replace(result, db_keys=self.dbsize())


def describe_scan(result: ScanCount) -> str:
    """One line on how far a SCAN walk went, for evidence and messages."""
    text = (f"SCAN MATCH {result.pattern} COUNT {result.count}: {result.calls} calls, "
            f"about {result.examined} keys examined in {format_duration(result.elapsed_s)}")
    if not result.complete:
        text += f", stopped by scan.{result.stopped_by}"
        if result.db_keys is not None:
            text += f" (database holds {result.db_keys} keys)"
    return text
