"""What a postgres check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from healthgate.units import format_duration

# Marks the suite's own statements, so statement statistics and session lists can leave them out.
MARKER = "/* healthgate */"






XID_LIMIT = 2**31  # transaction IDs a database can age before PostgreSQL stops accepting writes


MONITOR_GRANT = "GRANT pg_monitor TO {user}"






@dataclass(frozen=True)
class Server:
    version: str
    version_num: int
    in_recovery: bool
    database: str
    user: str

    @property
    def major(self) -> int:
        # 9.6 is 90600 (major 9.6, reported as 9); 10 and later are 100000 × major + minor.
        return self.version_num // 10000


@dataclass(frozen=True)
class Connections:
    """Client sessions against the slots they compete for.

    Ordinary roles (the application, and the least-privilege monitoring login) cannot use the last
    superuser_reserved_connections slots, nor from PostgreSQL 16 the reserved_connections ones kept for
    pg_use_reserved_connections: for them the pool is full at ``ordinary_slots``, not at max_connections.
    """

    used: int  # client backends, every state, every database (superusers' sessions in reserved slots included)
    max_connections: int
    superuser_reserved: int
    by_state: dict[str, int]
    reserved: int = 0  # reserved_connections (PostgreSQL 16+), for roles with pg_use_reserved_connections

    @property
    def ordinary_slots(self) -> int:
        return max(0, self.max_connections - self.superuser_reserved - self.reserved)

    @property
    def used_pct(self) -> float:
        """Share of the ordinary slots in use; above 100 % when superusers also hold reserved slots."""
        if self.ordinary_slots == 0:
            return 100.0
        return 100.0 * self.used / self.ordinary_slots

    def describe_slots(self) -> str:
        """``the 17 slots ordinary roles can use (max_connections 20 − 3 superuser_reserved_connections)``."""
        parts = [f"max_connections {self.max_connections}",
                 f"{self.superuser_reserved} superuser_reserved_connections"]
        if self.reserved:
            parts.append(f"{self.reserved} reserved_connections")
        return f"the {self.ordinary_slots} slots ordinary roles can use ({' − '.join(parts)})"


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    application: str
    client: str
    state: str
    seconds: float  # in the state (idle in transaction) or in the statement (active)
    query: str

    def describe(self) -> str:
        return (f"pid {self.pid} {self.user}@{self.client or 'local'} app={self.application or '-'} "
                f"{self.state} {self.seconds:.0f}s: {self.query}")


@dataclass(frozen=True)
class LockWait:
    pid: int
    user: str
    seconds: float
    lock: str  # e.g. "AccessExclusiveLock on relation public.orders"
    blocked_by: tuple[int, ...]
    query: str

    def describe(self) -> str:
        blockers = ", ".join(map(str, self.blocked_by)) or "?"
        return f"pid {self.pid} ({self.user}) waits {self.seconds:.0f}s for {self.lock}, blocked by {blockers}: " \
               f"{self.query}"


@dataclass(frozen=True)
class Standby:
    name: str
    client: str
    state: str
    replay_lag_s: float | None  # None once the standby has caught up and nothing was written since


@dataclass(frozen=True)
class WalReceiver:
    status: str | None  # None when no WAL receiver process runs
    sender: str
    lag_s: float | None
    replay_paused: bool = False


@dataclass(frozen=True)
class Statement:
    calls: int
    mean_ms: float
    query: str = ""


@dataclass(frozen=True)
class StatementTimes:
    """Per-statement means from pg_stat_statements and the figures judged from them."""

    statements: tuple[Statement, ...]
    mean_ms: float | None
    p95_ms: float | None

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.statements)


@dataclass(frozen=True)
class TableMaintenance:
    name: str
    rows: int  # live + dead tuples, as the statistics collector counts them
    size: int
    vacuum_age_s: float | None  # None: never vacuumed (neither VACUUM nor autovacuum)
    analyze_age_s: float | None


@dataclass(frozen=True)
class XidAge:
    database: str
    age: int

    @property
    def pct(self) -> float:
        return 100.0 * self.age / XID_LIMIT


@dataclass(frozen=True)
class InvalidIndex:
    name: str
    table: str


def weighted_mean(statements: Sequence[Statement]) -> float | None:
    """Mean statement time over every call: Σ(mean × calls) / Σ calls (the same as total_exec_time / calls)."""
    calls = sum(s.calls for s in statements)
    if calls == 0:
        return None
    return sum(s.mean_ms * s.calls for s in statements) / calls


def approximate_percentile(statements: Sequence[Statement], pct: float) -> float | None:
    """The ``pct`` percentile of call times, approximated from per-statement means weighted by calls.

    pg_stat_statements keeps no per-call times, so each call of a statement is taken to last its mean: the answer is
    the mean of the statement that holds the call at rank ceil(pct % of all calls) when calls are ordered by time.
    A statement that is fast on average but sometimes slow is therefore under-estimated.
    """
    if not 0 < pct <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {pct}")
    ordered = sorted((s for s in statements if s.calls > 0), key=lambda s: s.mean_ms)
    total = sum(s.calls for s in ordered)
    if total == 0:
        return None
    rank = max(1, math.ceil(pct / 100 * total))
    seen = 0
    for statement in ordered:
        seen += statement.calls
        if seen >= rank:
            return statement.mean_ms
    return ordered[-1].mean_ms


def stale_tables(tables: Sequence[TableMaintenance], *, vacuum_age: float, analyze_age: float) -> list[str]:
    """Descriptions of the tables not vacuumed or analyzed recently enough; empty tables never count."""
    found = []
    for table in tables:
        problems = []
        for done, age, limit in (("vacuumed", table.vacuum_age_s, vacuum_age),
                                 ("analyzed", table.analyze_age_s, analyze_age)):
            if age is None:
                if table.rows > 0:
                    problems.append(f"never {done}")
            elif age > limit:
                problems.append(f"{done} {format_duration(age)} ago")
        if problems:
            found.append(f"{table.name} ({', '.join(problems)}; {table.rows} rows)")
    return found














