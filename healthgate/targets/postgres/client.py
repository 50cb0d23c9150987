"""The only code that talks to a postgres target: read-only, with timeouts on every call."""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from healthgate.errors import AuthFailed, BadResponse, CheckError, PermissionMissing, PoolExhausted, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.postgres.facts import (
    MARKER,
    MONITOR_GRANT,
    Connections,
    InvalidIndex,
    LockWait,
    Server,
    Session,
    Standby,
    Statement,
    StatementTimes,
    TableMaintenance,
    WalReceiver,
    XidAge,
    approximate_percentile,
    weighted_mean,
)
from healthgate.targets.postgres.settings import Migrations, Settings, dsn_parts

APPLICATION_NAME = "healthgate"
# Maintenance and DDL: pg_stat_statements tracks them too (track_utility), but one VACUUM is not a slow query.
MAINTENANCE_STATEMENTS = (r"^\s*(vacuum|analyze|create|alter|drop|reindex|cluster|copy|grant|revoke|truncate|"
                          r"checkpoint|refresh|comment|lock|set|reset|discard|listen|unlisten|notify)\M")
# lock_timeout as a share of the read timeout: a check stuck behind someone's lock then ends with an error naming
# the lock, before statement_timeout would end it with an anonymous timeout.
_LOCK_FRACTION = 0.5
# Extra time, beyond statement_timeout, before the client stops waiting for a server that does not answer at all.
_WATCHDOG_GRACE_S = 2.0
_AUTH_FAILED = re.compile(r"password authentication failed|no pg_hba\.conf entry|authentication failed|"
                          r"role \"[^\"]*\" does not exist|password is required|no password supplied")
# "sorry, too many clients already" once every slot is taken; "remaining connection slots are reserved for
# non-replication superuser connections" (PostgreSQL <= 15), "... for roles with the SUPERUSER attribute" or "... with
# privileges of the "pg_use_reserved_connections" role" (16+) once only reserved slots are left.
_NO_SLOTS = re.compile(r"(sorry, )?too many clients already|remaining connection slots are reserved")
_SLOW = "the server is overloaded, or raise this target's read timeout"
_NO_CONNECT = re.compile(r"permission denied for database \"(?P<db>[^\"]+)\"")


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
        if match := _NO_SLOTS.search(text):
            return PoolExhausted(f"{self.where} refused the login of {self.user}: {text}",
                                 hint="every connection slot open to this role is taken: the pool is exhausted (see "
                                      "the connections runbook); an administrator can still connect in a reserved "
                                      "slot",
                                 refusal=text[match.start():])
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

    def _rows(self, query: Any, params: Sequence[Any] | None = None, *, grant: str = "",
              slow_hint: str = _SLOW) -> list[tuple[Any, ...]]:
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
                                 hint=slow_hint) from None
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

    def _one(self, query: Any, params: Sequence[Any] | None = None, *, grant: str = "",
             slow_hint: str = _SLOW) -> tuple[Any, ...]:
        rows = self._rows(query, params, grant=grant, slow_hint=slow_hint)
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
        # reserved_connections (for pg_use_reserved_connections) exists from PostgreSQL 16: NULL before.
        limits = self._one("SELECT current_setting('max_connections')::int, "
                           "current_setting('superuser_reserved_connections')::int, "
                           "coalesce(current_setting('reserved_connections', true), '0')::int")
        by_state = {str(state): int(count) for state, count in rows}
        return Connections(sum(by_state.values()), int(limits[0]), int(limits[1]), by_state,
                           reserved=int(limits[2]))

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

    # -- data fingerprints (baselines before and after a deploy, restore drills): they read rows, so each needs
    #    SELECT on the table it names, and the refusal says so

    def table_exists(self, table: str) -> bool:
        (exists,) = self._one("SELECT to_regclass(%s) IS NOT NULL", (table,))
        return exists is True

    def role_exists(self, role: str) -> bool:
        (exists,) = self._one("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)", (role,))
        return exists is True

    def row_count(self, table: str) -> int:
        """Exact, with count(*): a full scan, bounded by the statement timeout like every other read."""
        (count,) = self._one(_on_table("SELECT count(*) FROM {}", table), grant=_select_grant(table),
                             slow_hint=f"count {table} by estimate (estimated_tables) or raise the read timeout")
        return int(count)

    def row_estimate(self, table: str) -> int | None:
        """The planner's estimate (pg_class.reltuples): free, but only as fresh as the last ANALYZE; None when the
        table was never analysed."""
        (value,) = self._one("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", (table,))
        return None if value is None or value < 0 else int(value)

    def max_value(self, table: str, column: str) -> Any:
        from psycopg import sql

        query = sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(column), _identifier(table))
        (value,) = self._one(query, grant=_select_grant(table))
        return value

    def counts_at_or_before(self, table: str, column: str, edges: Sequence[Any]) -> list[int]:
        """Rows whose ``column`` is at or before each edge, in one scan of the table (what a restore to an
        earlier point must have kept)."""
        from psycopg import sql

        col = sql.Identifier(column)
        filters = sql.SQL(", ").join(sql.SQL("count(*) FILTER (WHERE {} <= %s)").format(col) for _ in edges)
        query = sql.SQL("SELECT {} FROM {}").format(filters, _identifier(table))
        row = self._one(query, list(edges), grant=_select_grant(table),
                        slow_hint=f"index {table}({column}), or raise this target's read timeout")
        return [int(count) for count in row]

    def max_at_or_before(self, table: str, column: str, bound: Any) -> Any:
        """The newest ``column`` value not after ``bound``: after a recovery, the point the data was restored
        to, whatever the application wrote since."""
        from psycopg import sql

        query = sql.SQL("SELECT max({col}) FROM {table} WHERE {col} <= %s").format(
            col=sql.Identifier(column), table=_identifier(table))
        (value,) = self._one(query, (bound,), grant=_select_grant(table))
        return value

    def values_from_newest(self, table: str, column: str, offsets: Sequence[int]) -> list[Any]:
        """The ``column`` value of the row ``offset`` places below the newest, for each offset (an index scan
        each when the column is indexed, as ids are); None past the oldest row."""
        from psycopg import sql

        query = sql.SQL("SELECT (SELECT {col} FROM {table} ORDER BY {col} DESC NULLS LAST OFFSET k LIMIT 1) "
                        "FROM unnest(%s::int[]) WITH ORDINALITY AS o(k, n) ORDER BY n").format(
            col=sql.Identifier(column), table=_identifier(table))
        return [row[0] for row in self._rows(query, (list(offsets),), grant=_select_grant(table))]

    def schema_definition(self, schemas: Sequence[str], limit: int) -> dict[str, dict[str, Any]]:
        """Per table of the listed schemas: its columns (``name type [not null]``, in order) and its indexes (name
        → definition). Reads only the catalogs, which every login may read, unlike information_schema, which hides
        the columns the login has no privilege on. At most ``limit`` columns and ``limit`` indexes."""
        tables: dict[str, dict[str, Any]] = {}
        for table, name, type_, not_null in self._rows(_COLUMNS, (list(schemas), limit)):
            entry = tables.setdefault(str(table), {"columns": [], "indexes": {}})
            entry["columns"].append(f"{name} {type_}{' not null' if not_null else ''}")
        for table, name, definition in self._rows(_INDEXES, (list(schemas), limit)):
            tables.setdefault(str(table), {"columns": [], "indexes": {}})["indexes"][str(name)] = str(definition)
        return tables

    def migration_history(self, table: str, column: str, keep: int) -> tuple[int, list[str]]:
        """How many migrations the table records, and the newest ``keep`` versions, newest first."""
        from psycopg import sql

        ident, col = _identifier(table), sql.Identifier(column)
        (count,) = self._one(sql.SQL("SELECT count(*) FROM {}").format(ident), grant=_select_grant(table))
        newest_first = sql.SQL("SELECT {}::text FROM {} ORDER BY {} DESC LIMIT %s").format(col, ident, col)
        rows = self._rows(newest_first, (keep,), grant=_select_grant(table))
        return int(count), [str(row[0]) for row in rows]


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


def _identifier(table: str) -> Any:
    from psycopg import sql

    try:
        return sql.Identifier(*_qualified(table))
    except ValueError as exc:
        raise BadResponse(str(exc), hint="name tables as table or schema.table in the profile") from None


def _on_table(template: str, table: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(_identifier(table))


def _select_grant(table: str) -> str:
    return f"GRANT SELECT ON {table} TO {{user}}"


_COLUMNS = """
SELECT n.nspname || '.' || c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY 1, a.attnum
LIMIT %s
"""
_INDEXES = """
SELECT n.nspname || '.' || t.relname, i.relname, pg_get_indexdef(i.oid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%s)
ORDER BY 1, 2
LIMIT %s
"""
