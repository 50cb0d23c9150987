"""The only code that talks to a redis target: read-only, with timeouts on every call."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.redis.facts import (
    Counters,
    Memory,
    Persistence,
    Replication,
    ScanCount,
    bounded_scan,
    persistence_from_info,
    replication_from_info,
)
from healthgate.targets.redis.settings import Settings
from healthgate.units import format_duration

READ_ONLY_COMMANDS = frozenset({"PING", "INFO", "SCAN", "DBSIZE"})
# What an ACL user needs for each command the client sends (shown when the server answers NOPERM).
GRANTS = {"ping": "+ping", "info": "+info", "scan": "+@read", "dbsize": "+@read", "select": "+select"}


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






def grant_for(message: str) -> str:
    """The ACL grant a NOPERM message asks for, e.g. ``'config|set' command`` → ``+config|set``."""
    match = re.search(r"run the '([^']+)' command", message)
    if not match:
        return "<the command ACL LOG names>"
    command = match.group(1).lower()
    return GRANTS.get(command, f"+{command}")
