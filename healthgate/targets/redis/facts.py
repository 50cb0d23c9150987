"""What a redis check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


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


