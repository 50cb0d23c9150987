"""Pure logic of the PostgreSQL target kind: settings, DSN handling, statement-time figures, maintenance ages.
No server: nothing here may open a socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from healthgate.errors import Unreachable
from healthgate.targets.base import Timeouts
from healthgate.targets.postgres.client import Client, session_options
from healthgate.targets.postgres.facts import (
    XID_LIMIT,
    Connections,
    Server,
    Statement,
    TableMaintenance,
    XidAge,
    approximate_percentile,
    stale_tables,
    weighted_mean,
)
from healthgate.targets.postgres.settings import Settings, dsn_address

DAY = 86400.0

# ------------------------------------------------------------------------------------------------ settings


def test_defaults_are_the_seed_figures() -> None:
    settings = Settings(dsn="postgresql://u:pw@db:5432/app")
    assert settings.thresholds.model_dump() == {
        "connections_used_pct": 90.0,
        "idle_in_transaction": "10m",
        "max_idle_in_transaction_sessions": 0,
        "longest_query": "5m",
        "replication_lag": "5s",
        "query_mean": "100ms",
        "query_p95": "100ms",
        "vacuum_age": "7d",
        "analyze_age": "7d",
        "xid_age_pct": 50.0,
        "lock_wait": "30s",
    }
    assert (settings.role, settings.min_standbys, settings.largest_tables) == ("auto", 0, 5)


def test_settings_parse_durations_sizes_and_migrations() -> None:
    settings = Settings.model_validate({
        "dsn": "host=db dbname=app user=u password=secret",
        "role": "standby",
        "max_database_size": "2GiB",
        "migrations": {"table": "public.schema_migrations", "expected": "20250713_01"},
        "thresholds": {"idle_in_transaction": "0s", "lock_wait": "1m"},
    })
    assert settings.max_database_size == 2 * 1024**3
    assert settings.thresholds.idle_in_transaction == 0.0
    assert settings.thresholds.lock_wait == 60.0
    assert settings.migrations is not None and settings.migrations.column == "version"


@pytest.mark.parametrize("bad", [
    {"dsn": "postgresql://db/app", "rolee": "primary"},
    {"dsn": "postgresql://db/app", "role": "replica"},
    {"dsn": "postgresql://db/app", "thresholds": {"connections_used_pct": 150}},
    {"dsn": "postgresql://db/app", "thresholds": {"longest_query": "5 min"}},
    {"dsn": "postgresql://db/app", "migrations": {"table": "t"}},
])
def test_settings_refuse_typos_and_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(bad)


@pytest.mark.parametrize(("dsn", "address"), [
    ("postgresql://healthgate:s3cret@db.internal:6432/app", "postgresql://db.internal:6432/app"),
    ("postgresql://u:pw@127.0.0.1/app?sslmode=require", "postgresql://127.0.0.1:5432/app"),
    ("host=db port=5433 dbname=orders user=u password='a b'", "postgresql://db:5433/orders"),
    ("postgresql://u@[::1]:5432/app", "postgresql://[::1]:5432/app"),
    ("not a dsn at all", "postgresql://<unparsable dsn>"),
])
def test_address_never_shows_credentials(dsn: str, address: str) -> None:
    assert dsn_address(dsn) == address
    assert Settings(dsn=dsn).address() == address


def test_session_options_are_read_only_with_timeouts_and_win_over_the_dsn() -> None:
    assert session_options(10.0) == ("-c default_transaction_read_only=on -c statement_timeout=10000 "
                                     "-c lock_timeout=5000")
    merged = session_options(2.5, "-c default_transaction_read_only=off -c search_path=app")
    assert merged.startswith("-c default_transaction_read_only=off -c search_path=app ")
    # libpq applies -c options in order: ours come last, so they decide.
    assert merged.endswith("-c default_transaction_read_only=on -c statement_timeout=2500 -c lock_timeout=1250")


# ------------------------------------------------------------------------------------------- statement times


def test_weighted_mean_is_total_time_over_calls() -> None:
    statements = [Statement(calls=90, mean_ms=1.0), Statement(calls=10, mean_ms=91.0)]
    assert weighted_mean(statements) == pytest.approx((90 * 1.0 + 10 * 91.0) / 100)
    assert weighted_mean([]) is None


@pytest.mark.parametrize(("statements", "pct", "expected"), [
    # 95 fast calls and 5 slow ones: call 95 of 100 is still fast, call 96 is slow.
    ([(95, 2.0), (5, 400.0)], 95, 2.0),
    ([(94, 2.0), (6, 400.0)], 95, 400.0),
    # order of the input does not matter
    ([(6, 400.0), (94, 2.0)], 95, 400.0),
    ([(1, 7.0)], 95, 7.0),
    ([(10, 1.0), (10, 2.0), (10, 3.0)], 50, 2.0),
    ([(3, 1.0), (1, 50.0)], 100, 50.0),
    # statements without calls are ignored
    ([(0, 999.0), (4, 3.0)], 95, 3.0),
])
def test_approximate_percentile_walks_calls_ordered_by_mean(statements: list[tuple[int, float]], pct: float,
                                                           expected: float) -> None:
    assert approximate_percentile([Statement(c, m) for c, m in statements], pct) == expected


def test_approximate_percentile_without_calls_and_bad_percentiles() -> None:
    assert approximate_percentile([], 95) is None
    assert approximate_percentile([Statement(0, 5.0)], 95) is None
    for pct in (0, -1, 101):
        with pytest.raises(ValueError, match="percentile"):
            approximate_percentile([Statement(1, 1.0)], pct)


# ------------------------------------------------------------------------------------------------ maintenance


def table(name: str, rows: int, vacuum: float | None, analyze: float | None) -> TableMaintenance:
    return TableMaintenance(name, rows, 8192, vacuum, analyze)


def test_stale_tables_lists_old_and_never_maintained_tables_with_rows() -> None:
    tables = [
        table("public.fresh", 10, 1 * DAY, 1 * DAY),
        table("public.old_vacuum", 10, 8 * DAY, 1 * DAY),
        table("public.never", 1000, None, None),
        table("public.empty_never", 0, None, None),
        table("public.old_analyze", 5, 1 * DAY, 30 * DAY),
    ]
    assert stale_tables(tables, vacuum_age=7 * DAY, analyze_age=7 * DAY) == [
        "public.old_vacuum (vacuumed 8d ago; 10 rows)",
        "public.never (never vacuumed, never analyzed; 1000 rows)",
        "public.old_analyze (analyzed 30d ago; 5 rows)",
    ]
    assert stale_tables(tables[:1], vacuum_age=7 * DAY, analyze_age=7 * DAY) == []


# ------------------------------------------------------------------------------------------------ other facts


def test_fact_arithmetic() -> None:
    assert Server("15.8", 150008, False, "app", "u").major == 15
    assert Server("9.6.24", 90624, False, "app", "u").major == 9
    assert XidAge("app", XID_LIMIT // 2).pct == 50.0


def test_connections_are_judged_against_the_slots_ordinary_roles_can_use() -> None:
    # 17 sessions fill the 17 slots left to ordinary roles: 85 % of max_connections, but a full pool for them.
    full = Connections(17, 20, 3, {"idle": 17})
    assert (full.ordinary_slots, full.used_pct) == (17, 100.0)
    assert full.describe_slots() == ("the 17 slots ordinary roles can use (max_connections 20 − 3 "
                                     "superuser_reserved_connections)")
    pg16 = Connections(10, 100, 3, {"idle": 10}, reserved=17)
    assert (pg16.ordinary_slots, pg16.used_pct) == (80, 12.5)
    assert pg16.describe_slots().endswith("(max_connections 100 − 3 superuser_reserved_connections − 17 "
                                          "reserved_connections)")
    # Superusers in their reserved slots take the share over 100 %; a pool with no ordinary slot is full.
    assert Connections(20, 20, 3, {"idle": 20}).used_pct == pytest.approx(117.6, abs=0.1)
    assert Connections(0, 3, 3, {}).used_pct == 100.0


# ------------------------------------------------------------------------------------------------ client


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield port


def test_client_connects_lazily_and_reports_a_refused_connection(closed_port: int) -> None:
    client = Client(Settings(dsn=f"postgresql://u:topsecret@127.0.0.1:{closed_port}/app"),
                    Timeouts(connect=2, read=2))
    assert client.connect_attempts == 0
    with pytest.raises(Unreachable) as caught:
        client.server()
    assert client.connect_attempts == 1
    message = str(caught.value)
    assert f"connecting to postgresql://127.0.0.1:{closed_port}/app failed" in message
    assert "topsecret" not in message
