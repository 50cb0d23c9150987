"""PostgreSQL servers: reachability, connections, sessions, replication, statement times, maintenance, schema.

The client opens one read-only session per target per worker (``default_transaction_read_only=on``, a
``statement_timeout`` equal to the read timeout and a shorter ``lock_timeout``) and runs only SELECTs on statistics
views and catalogs. A monitoring login with ``pg_monitor`` and CONNECT on the database is enough for every check but
the schema-version one, which needs SELECT on the migrations table:

    CREATE ROLE healthgate LOGIN PASSWORD '...';
    GRANT pg_monitor TO healthgate;
    GRANT CONNECT ON DATABASE app TO healthgate;
    GRANT SELECT ON schema_migrations TO healthgate;   -- only with a `migrations:` setting

Without ``pg_read_all_stats`` (part of ``pg_monitor``) PostgreSQL hides the state and query of other roles'
sessions instead of refusing: checks that would then undercount raise ``PermissionMissing`` rather than pass.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from healthgate.errors import AuthFailed, BadResponse, CheckError, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts
from healthgate.units import Duration, Size, format_duration

# Marks the suite's own statements, so statement statistics and session lists can leave them out.
MARKER = "/* healthgate */"
APPLICATION_NAME = "healthgate"
# Maintenance and DDL: pg_stat_statements tracks them too (track_utility), but one VACUUM is not a slow query.
MAINTENANCE_STATEMENTS = (r"^\s*(vacuum|analyze|create|alter|drop|reindex|cluster|copy|grant|revoke|truncate|"
                          r"checkpoint|refresh|comment|lock|set|reset|discard|listen|unlisten|notify)\M")
XID_LIMIT = 2**31  # transaction IDs a database can age before PostgreSQL stops accepting writes
MONITOR_GRANT = "GRANT pg_monitor TO {user}"

# lock_timeout as a share of the read timeout: a check stuck behind someone's lock then ends with an error naming
# the lock, before statement_timeout would end it with an anonymous timeout.
_LOCK_FRACTION = 0.5
# Extra time, beyond statement_timeout, before the client stops waiting for a server that does not answer at all.
_WATCHDOG_GRACE_S = 2.0


class Migrations(Model):
    """Where the applied schema version is recorded, and the version this release expects."""

    table: str = Field(description="e.g. schema_migrations, or public.alembic_version")
    column: str = Field("version", description="column holding the version; the check reads its max()")
    expected: str = Field(description="version the database must be at, e.g. 20250713_01")


class PostgresThresholds(Model):
    connections_used_pct: float = Field(90.0, gt=0, le=100,
                                        description="client sessions below this % of max_connections "
                                                    "(seeds: active connections < 90 % pool)")
    idle_in_transaction: Duration = Field(600.0, description="a session idle in a transaction longer than this "
                                                             "counts (seeds: terminated after 10 minutes)")
    max_idle_in_transaction_sessions: int = Field(0, ge=0, description="sessions allowed over that age")
    longest_query: Duration = Field(300.0, description="longest running active statement")
    replication_lag: Duration = Field(5.0, description="standby replay lag (seeds: replication lag < 5 s)")
    query_mean: Duration = Field(0.100, description="mean statement time, weighted by calls")
    query_p95: Duration = Field(0.100, description="approximate P95 statement time (seeds: query time < "
                                                   "100 ms P95)")
    vacuum_age: Duration = Field(7 * 86400.0, description="time since the last (auto)vacuum of a checked table")
    analyze_age: Duration = Field(7 * 86400.0, description="time since the last (auto)analyze of a checked table")
    xid_age_pct: float = Field(50.0, gt=0, le=100, description="age(datfrozenxid) below this % of 2^31")
    lock_wait: Duration = Field(30.0, description="longest wait of a session for a lock")


class Settings(TargetSettings):
    dsn: str = Field(description="libpq URL or key=value string, e.g. "
                                 "postgresql://healthgate:${PG_PASSWORD}@db.internal:5432/app")
    role: Literal["primary", "standby", "auto"] = Field(
        "auto", description="what the server must be; auto judges whatever it is")
    expected_major_version: int | None = Field(None, ge=9, description="server major version, e.g. 15")
    min_standbys: int = Field(0, ge=0, description="standbys a primary must have streaming")
    tables: tuple[str, ...] = Field((), description="tables whose vacuum/analyze age is checked "
                                                    "(default: the largest ones)")
    largest_tables: int = Field(5, ge=1, le=100, description="how many of the largest tables when `tables` is "
                                                             "empty")
    max_database_size: Size | None = Field(None, description="size the database must stay below")
    migrations: Migrations | None = None
    thresholds: PostgresThresholds = PostgresThresholds()

    def address(self) -> str:
        return dsn_address(self.dsn)


# ------------------------------------------------------------------------------------------------- facts


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
    used: int  # client backends, every state, every database
    max_connections: int
    superuser_reserved: int
    by_state: dict[str, int]

    @property
    def used_pct(self) -> float:
        return 100.0 * self.used / self.max_connections


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


# ------------------------------------------------------------------------------------------ pure helpers


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


def dsn_parts(dsn: str) -> dict[str, str]:
    """libpq connection parameters of a URL or key=value string (``ValueError`` when malformed)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Exception as exc:  # psycopg.ProgrammingError; its text never contains the password
        raise ValueError(f"not a libpq connection string: {exc}") from None


def dsn_address(dsn: str) -> str:
    """``postgresql://host:port/dbname`` of a DSN, without user or password."""
    try:
        parts = dsn_parts(dsn)
    except ValueError:
        return "postgresql://<unparsable dsn>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    if ":" in host and "," not in host and not host.startswith("/"):
        host = f"[{host}]"
    port = parts.get("port") or "5432"
    dbname = parts.get("dbname") or parts.get("user") or ""
    return f"postgresql://{host}:{port}/{dbname}"


def session_options(read_timeout_s: float, existing: str = "") -> str:
    """libpq ``options``: the DSN's own first, ours after them so ours win."""
    statement_ms = max(1, round(read_timeout_s * 1000))
    lock_ms = max(1, round(read_timeout_s * 1000 * _LOCK_FRACTION))
    ours = (f"-c default_transaction_read_only=on -c statement_timeout={statement_ms} "
            f"-c lock_timeout={lock_ms}")
    return f"{existing} {ours}".strip()


def _qualified(name: str) -> list[str]:
    """``schema.table`` or ``table`` as identifier parts (quotes in profiles are not interpreted)."""
    parts = name.split(".")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{name!r} is not a table name; use table or schema.table")
    return parts


_AUTH_FAILED = re.compile(r"password authentication failed|no pg_hba\.conf entry|authentication failed|"
                          r"role \"[^\"]*\" does not exist|password is required|no password supplied")
_NO_SLOTS = re.compile(r"too many clients already|remaining connection slots are reserved")
_NO_CONNECT = re.compile(r"permission denied for database \"(?P<db>[^\"]+)\"")


# ------------------------------------------------------------------------------------------------ client


class Client(BaseClient):
    """One psycopg 3 session per target per worker: autocommit, read-only, every statement under timeouts."""

    settings: Settings

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._conn: Any = None
        self._lock = threading.RLock()
        self._roles: dict[str, bool] = {}

    # -- connection

    @property
    def where(self) -> str:
        return self.settings.address()

    @property
    def user(self) -> str:
        try:
            return dsn_parts(self.settings.dsn).get("user") or os.environ.get("PGUSER") or "<login user>"
        except ValueError:
            return "<login user>"

    def _connection(self) -> Any:
        """The session, opened on first use."""
        with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            return self._conn

    def _connect(self) -> Any:
        import psycopg

        from healthgate.redact import register_secret

        try:
            parts = dsn_parts(self.settings.dsn)
        except ValueError as exc:
            raise BadResponse(f"dsn of {self.where}: {exc}", hint="use postgresql://user:pw@host:5432/db") from None
        register_secret(parts.get("password"))
        self.connect_attempts += 1
        try:
            return psycopg.connect(
                self.settings.dsn,
                # libpq counts whole seconds and treats anything under 2 as 2
                connect_timeout=max(2, math.ceil(self.timeouts.connect)),
                autocommit=True,
                application_name=APPLICATION_NAME,
                options=session_options(self.timeouts.read, parts.get("options", "")),
            )
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Exception) -> CheckError:
        text = " ".join(str(exc).split())
        if match := _NO_CONNECT.search(text):
            return PermissionMissing(f"{self.user} may not connect to {self.where}: {text}",
                                     hint=f"GRANT CONNECT ON DATABASE {match['db']} TO {self.user}")
        if _NO_SLOTS.search(text):
            return Unreachable(f"{self.where} refused a new connection: {text}",
                               hint="every connection slot is taken: the pool is exhausted (see the connections "
                                    "runbook); an administrator can still connect in a reserved slot")
        if _AUTH_FAILED.search(text):
            return AuthFailed(f"{self.where} refused the login of {self.user}: {text}",
                              hint="check the DSN's user and password, and pg_hba.conf for this client address")
        if "timeout expired" in text:
            return Unreachable(f"connecting to {self.where} timed out after {max(2, math.ceil(self.timeouts.connect))}"
                               f" s: {text}", hint="is the server up, and is the port open from here?")
        return Unreachable(f"connecting to {self.where} failed: {text}",
                           hint="is the server up, and the DSN's host, port and database right?")

    @contextlib.contextmanager
    def _watchdog(self, conn: Any) -> Iterator[None]:
        """Cut the socket of a server that stopped answering: statement_timeout is enforced by the server, so a
        frozen server (paused, swapping, partitioned) would otherwise keep the client waiting for ever."""
        fired = threading.Event()

        def cut() -> None:
            fired.set()
            with contextlib.suppress(OSError, ValueError, AttributeError):
                fd = conn.pgconn.socket
                socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(self.timeouts.read + _WATCHDOG_GRACE_S, cut)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
            if fired.is_set():
                self._drop()
                raise Unreachable(f"{self.where} did not answer within {self.timeouts.read:g} s read timeout "
                                  f"(+{_WATCHDOG_GRACE_S:g} s)", hint="is the server frozen, overloaded or "
                                                                      "unreachable?")

    def _rows(self, query: Any, params: Sequence[Any] | None = None, *, grant: str = "") -> list[tuple[Any, ...]]:
        """Rows of one statement; ``grant`` names what a refused statement needs."""
        import psycopg
        from psycopg import errors as pgerr
        from psycopg import sql

        statement = sql.SQL(MARKER + " ") + (query if isinstance(query, sql.Composable) else sql.SQL(query))
        with self._lock:
            conn = self._connection()
            shown = statement.as_string(conn)[len(MARKER) + 1:][:160].split()
            what = " ".join(shown)
            try:
                with self._watchdog(conn):
                    return conn.execute(statement, params).fetchall()
            except pgerr.InsufficientPrivilege as exc:
                hint = grant.format(user=self.user) if grant else "see the runbook for the grants the checks need"
                raise PermissionMissing(f"{self.user} was refused on {self.where} running {what}: "
                                        f"{exc.diag.message_primary or exc}", hint=hint) from None
            except pgerr.QueryCanceled:
                raise CheckError(f"{what} on {self.where} was cancelled by statement_timeout "
                                 f"({self.timeouts.read:g} s)",
                                 hint="the server is overloaded, or raise this target's read timeout") from None
            except pgerr.LockNotAvailable:
                raise CheckError(f"{what} on {self.where} waited longer than lock_timeout for a lock",
                                 hint="a session holds an exclusive lock: see the blocked-locks check") from None
            except psycopg.OperationalError as exc:
                self._drop()
                raise Unreachable(f"{what} on {self.where} failed: {' '.join(str(exc).split())}",
                                  hint="the server closed the connection: is it restarting or down?") from None
            except psycopg.Error as exc:
                raise BadResponse(f"{what} on {self.where} failed: {type(exc).__name__}: {exc}",
                                  hint="is this a PostgreSQL server of a supported version (>= 14)?") from None

    def _one(self, query: Any, params: Sequence[Any] | None = None, *, grant: str = "") -> tuple[Any, ...]:
        rows = self._rows(query, params, grant=grant)
        if len(rows) != 1:
            raise BadResponse(f"expected one row from {self.where}, got {len(rows)}")
        return rows[0]

    def _drop(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def close(self) -> None:
        self._drop()

    def has_role(self, role: str) -> bool:
        """Whether the login has the privileges of ``role`` (superusers have all)."""
        if role not in self._roles:
            (granted,) = self._one("SELECT rolsuper OR pg_has_role(current_user, %s, 'USAGE') "
                                   "FROM pg_roles WHERE rolname = current_user", (role,))
            self._roles[role] = bool(granted)
        return self._roles[role]

    def require_stats_visibility(self, what: str) -> None:
        """Refuse to judge sessions the server would hide: without pg_read_all_stats other roles' sessions show
        a NULL state and query, and a check counting them would pass while blind."""
        if not self.has_role("pg_read_all_stats"):
            raise PermissionMissing(f"{self.user} cannot see other roles' sessions on {self.where}, needed for {what}",
                                    hint=MONITOR_GRANT.format(user=self.user) + " (or pg_read_all_stats)")

    # -- observations

    def server(self) -> Server:
        row = self._one("SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
                        "pg_is_in_recovery(), current_database(), current_user")
        return Server(str(row[0]), int(row[1]), bool(row[2]), str(row[3]), str(row[4]))

    def connections(self) -> Connections:
        rows = self._rows("SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                          "WHERE backend_type = 'client backend' GROUP BY 1 ORDER BY 1")
        limits = self._one("SELECT current_setting('max_connections')::int, "
                           "current_setting('superuser_reserved_connections')::int")
        by_state = {str(state): int(count) for state, count in rows}
        return Connections(sum(by_state.values()), int(limits[0]), int(limits[1]), by_state)

    def _sessions(self, where: str, params: Sequence[Any], age: str) -> list[Session]:
        rows = self._rows(
            f"SELECT pid, coalesce(usename, ''), coalesce(application_name, ''), coalesce(client_addr::text, ''), "
            f"state, extract(epoch FROM now() - {age})::float8, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) "
            f"FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND {where} "
            f"ORDER BY {age} LIMIT 20", params)
        return [Session(int(r[0]), r[1], r[2], r[3], str(r[4]), float(r[5] or 0), r[6] or "") for r in rows]

    def idle_in_transaction(self, older_than_s: float) -> list[Session]:
        """Sessions idle inside an open transaction for longer than ``older_than_s`` (oldest first, at most 20)."""
        self.require_stats_visibility("the idle-in-transaction check")
        return self._sessions("state IN ('idle in transaction', 'idle in transaction (aborted)') "
                              "AND state_change < now() - make_interval(secs => %s)", (older_than_s,), "state_change")

    def active_queries(self) -> list[Session]:
        """Statements running now, longest first (at most 20); the suite's own session is left out."""
        self.require_stats_visibility("the long-running-query check")
        return self._sessions("state = 'active'", (), "query_start")

    def lock_waits(self) -> list[LockWait]:
        """Sessions waiting for a lock, longest wait first (at most 20)."""
        rows = self._rows(
            "SELECT l.pid, coalesce(a.usename, ''), "
            "extract(epoch FROM now() - coalesce(l.waitstart, a.query_start, now()))::float8, "
            "l.mode || ' on ' || l.locktype || coalesce(' ' || l.relation::regclass::text, ''), "
            "pg_blocking_pids(l.pid), left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 200) "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND l.pid <> pg_backend_pid() "
            "ORDER BY coalesce(l.waitstart, a.query_start) LIMIT 20")
        return [LockWait(int(r[0]), r[1], float(r[2] or 0), str(r[3]), tuple(int(p) for p in r[4] or ()), r[5])
                for r in rows]

    def standbys(self) -> list[Standby]:
        """Standbys connected to this primary (pg_stat_replication)."""
        self.require_stats_visibility("the replication check")
        rows = self._rows("SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'), "
                          "coalesce(state, 'unknown'), extract(epoch FROM replay_lag)::float8 "
                          "FROM pg_stat_replication ORDER BY 1, 2")
        return [Standby(r[0], r[1], r[2], None if r[3] is None else float(r[3])) for r in rows]

    def wal_receiver(self) -> WalReceiver:
        """This standby's WAL receiver and replay lag: 0 when everything received is replayed, else the age of the
        last replayed transaction (None when none was replayed since the standby started)."""
        self.require_stats_visibility("the replication check")
        row = self._one(
            "SELECT (SELECT status FROM pg_stat_wal_receiver), "
            "coalesce((SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver), ''), "
            "CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
            "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8, "
            "pg_is_wal_replay_paused()")
        return WalReceiver(None if row[0] is None else str(row[0]), str(row[1]),
                           None if row[2] is None else float(row[2]), bool(row[3]))

    def statement_times(self, percentile: float = 95.0) -> StatementTimes | None:
        """Statement times of this database from pg_stat_statements; the suite's own statements and maintenance or
        DDL statements (slow by nature, and not what clients wait for) are left out.

        None when the extension is not installed in this database. Raises ``BadResponse`` mentioning
        shared_preload_libraries when it is installed but not loaded.
        """
        if not self._rows("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"):
            return None
        rows = self._rows(
            "SELECT calls, mean_exec_time, left(regexp_replace(query, '\\s+', ' ', 'g'), 200) "
            "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND calls > 0 AND query NOT LIKE %s AND query !~* %s", (MARKER + "%", MAINTENANCE_STATEMENTS),
            grant=MONITOR_GRANT)
        statements = tuple(Statement(int(r[0]), float(r[1]), r[2] or "") for r in rows)
        return StatementTimes(statements, weighted_mean(statements), approximate_percentile(statements, percentile))

    def database_size(self) -> int:
        (size,) = self._one("SELECT pg_database_size(current_database())", grant=MONITOR_GRANT)
        return int(size)

    def table_maintenance(self, tables: Sequence[str], largest: int) -> list[TableMaintenance]:
        """Vacuum and analyze ages of ``tables``, or of the ``largest`` user tables by total size.

        A table named in ``tables`` but absent is reported as a ``BadResponse`` naming it."""
        from psycopg import sql

        columns = sql.SQL(
            "SELECT s.schemaname || '.' || s.relname, (s.n_live_tup + s.n_dead_tup)::bigint, "
            "pg_total_relation_size(s.relid), "
            "extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum))::float8, "
            "extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8 "
            "FROM pg_stat_user_tables s ")
        if tables:
            for name in tables:
                try:
                    _qualified(name)
                except ValueError as exc:
                    raise BadResponse(str(exc)) from None
            query = columns + sql.SQL("WHERE s.relid = ANY(%s::regclass[]) ORDER BY 3 DESC")
            try:
                rows = self._rows(query, (list(tables),))
            except BadResponse as exc:
                raise BadResponse(f"{exc.what}", hint="a table named in `tables:` does not exist") from None
        else:
            rows = self._rows(columns + sql.SQL("ORDER BY 3 DESC, 1 LIMIT %s"), (largest,))
        return [TableMaintenance(r[0], int(r[1]), int(r[2]), None if r[3] is None else float(r[3]),
                                 None if r[4] is None else float(r[4])) for r in rows]

    def xid_ages(self) -> list[XidAge]:
        """age(datfrozenxid) of every database that accepts connections, oldest first."""
        rows = self._rows("SELECT datname, age(datfrozenxid) FROM pg_database WHERE datallowconn ORDER BY 2 DESC, 1")
        return [XidAge(str(r[0]), int(r[1])) for r in rows]

    def invalid_indexes(self) -> list[InvalidIndex]:
        """Indexes of this database left invalid (a failed CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY)."""
        rows = self._rows(
            "SELECT n.nspname || '.' || c.relname, t.relname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid ORDER BY 1")
        return [InvalidIndex(str(r[0]), str(r[1])) for r in rows]

    def schema_version(self, migrations: Migrations) -> str | None:
        """max(column) of the migrations table, as text (None when the table is empty)."""
        from psycopg import sql

        try:
            table = sql.Identifier(*_qualified(migrations.table))
        except ValueError as exc:
            raise BadResponse(str(exc)) from None
        query = sql.SQL("SELECT max({})::text FROM {}").format(sql.Identifier(migrations.column), table)
        grant = f"GRANT SELECT ON {migrations.table} TO {{user}}"
        (version,) = self._one(query, grant=grant)
        return None if version is None else str(version)
