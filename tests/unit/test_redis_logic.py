"""Pure logic of the Redis target kind: settings, bounded SCAN walks, INFO parsing, NOPERM hints.
No server: the client must not even try to connect for anything here."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from healthgate.errors import Unreachable
from healthgate.targets.base import Timeouts
from healthgate.targets.redis.client import READ_ONLY_COMMANDS, Client, grant_for
from healthgate.targets.redis.facts import Memory, bounded_scan, median, persistence_from_info, replication_from_info
from healthgate.targets.redis.settings import Settings, redis_address

# ------------------------------------------------------------------------------------------------ settings


def test_defaults_are_the_seeds_figures() -> None:
    settings = Settings(url="redis://localhost:6379/0")
    assert settings.thresholds.model_dump() == {
        "memory_used_pct": 80.0,
        "max_evicted_keys": 0,
        "max_rejected_connections": 0,
        "last_save_age": "26h",
        "ping_median": "10ms",
        "ping_max": None,
    }
    assert settings.scan.model_dump() == {"count": 500, "max_keys": 100_000, "max_seconds": "2s"}
    assert (settings.expect_role, settings.min_replicas, settings.persistence) == (None, 0, True)


def test_profile_values_are_parsed() -> None:
    settings = Settings.model_validate({
        "url": "redis://healthgate:pw@cache:6380/2",
        "expect_role": "replica",
        "cache_patterns": [{"pattern": "cache:*:expired", "max": 1000}],
        "scan": {"count": 100, "max_keys": 5000, "max_seconds": "500ms"},
        "thresholds": {"ping_median": "5ms", "last_save_age": "2h"},
    })
    assert settings.cache_patterns[0].max == 1000
    assert settings.scan.max_seconds == 0.5
    assert settings.thresholds.ping_median == 0.005
    assert settings.thresholds.last_save_age == 7200
    assert settings.username == "healthgate"


@pytest.mark.parametrize(("settings", "message"), [
    ({"url": "http://cache:6379"}, "URL scheme must be one of redis, rediss, unix, not 'http'"),
    ({"url": "cache:6379"}, "URL scheme must be one of"),
    ({"url": "redis://x", "expect_role": "slave"}, "'master' or 'replica'"),
    ({"url": "redis://x", "cache_patterns": [{"pattern": "a*"}]}, "max"),
    ({"url": "redis://x", "scan": {"count": 0}}, "greater than or equal to 1"),
    ({"url": "redis://x", "ping_sample": 5}, "Extra inputs are not permitted"),
])
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.model_validate(settings)


@pytest.mark.parametrize(("url", "address"), [
    ("redis://:secret@cache.internal:6379/0", "redis://cache.internal:6379/0"),
    ("redis://healthgate:secret@10.0.0.5/3", "redis://10.0.0.5:6379/3"),
    ("rediss://u:p@[::1]:6390", "rediss://[::1]:6390/0"),
    ("unix:///run/redis.sock", "unix:///run/redis.sock"),
])
def test_address_never_shows_credentials(url: str, address: str) -> None:
    assert redis_address(url) == address
    assert Settings(url=url).address() == address


# ------------------------------------------------------------------------------------------------ scan


def pages(*answers: tuple[int, list[str]]) -> Any:
    calls: list[int] = []
    replies: Iterator[tuple[int, list[str]]] = iter(answers)

    def page(cursor: int) -> tuple[int, list[str]]:
        calls.append(cursor)
        return next(replies)

    page.calls = calls  # type: ignore[attr-defined]
    return page


def test_scan_follows_the_cursor_to_the_end() -> None:
    page = pages((17, ["a", "b"]), (4, []), (0, ["c"]))
    result = bounded_scan(page, pattern="p", count=10, max_keys=1000, max_seconds=5)
    assert (result.matched, result.calls, result.complete, result.stopped_by) == (3, 3, True, None)
    assert page.calls == [0, 17, 4]


def test_scan_stops_at_max_keys() -> None:
    page = pages(*[(i + 1, ["k"]) for i in range(100)])
    result = bounded_scan(page, pattern="p", count=10, max_keys=30, max_seconds=5)
    assert (result.matched, result.calls, result.examined, result.complete, result.stopped_by) == (
        3, 3, 30, False, "max_keys")


def test_scan_stops_at_max_seconds() -> None:
    ticks = iter([0.0, 0.5, 1.0, 2.5, 9.0])
    page = pages(*[(i + 1, ["k", "k"]) for i in range(100)])
    result = bounded_scan(page, pattern="p", count=10, max_keys=10_000, max_seconds=2,
                          clock=lambda: next(ticks))
    assert (result.matched, result.calls, result.elapsed_s, result.stopped_by) == (6, 3, 2.5, "max_seconds")


def test_a_scan_that_ends_on_its_last_allowed_call_is_complete() -> None:
    result = bounded_scan(pages((5, ["a"]), (0, ["b"])), pattern="p", count=10, max_keys=20, max_seconds=5)
    assert (result.complete, result.matched) == (True, 2)


# ------------------------------------------------------------------------------------------------ INFO


def test_replication_of_a_master_with_replicas() -> None:
    info = {"role": "master", "connected_slaves": 2,
            "slave0": {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 10, "lag": 0},
            "slave1": {"ip": "10.0.0.3", "port": 6379, "state": "wait_bgsave", "offset": 0, "lag": 3}}
    replication = replication_from_info(info)
    assert replication.role == "master"
    assert [r.address for r in replication.replicas] == ["10.0.0.2:6379", "10.0.0.3:6379"]
    assert replication.online_replicas == 1
    assert replication.master_link_status is None


def test_replication_of_a_replica_says_replica_not_slave() -> None:
    info = {"role": "slave", "master_host": "redis", "master_port": 6379, "master_link_status": "down",
            "master_last_io_seconds_ago": -1}
    replication = replication_from_info(info)
    assert (replication.role, replication.master_address, replication.master_link_status) == (
        "replica", "redis:6379", "down")


def test_persistence_age_uses_the_server_clock() -> None:
    info = {"rdb_last_bgsave_status": "ok", "rdb_last_save_time": 1000, "rdb_changes_since_last_save": 5,
            "rdb_bgsave_in_progress": 0, "aof_enabled": 1, "aof_last_write_status": "err",
            "aof_last_bgrewrite_status": "ok"}
    state = persistence_from_info(info, server_time=4600.0)
    assert state.last_save_age_s == 3600
    assert (state.aof_enabled, state.aof_last_write_status) == (True, "err")


def test_aof_statuses_are_ignored_when_aof_is_off() -> None:
    info = {"rdb_last_bgsave_status": "ok", "rdb_last_save_time": 1000, "aof_enabled": 0,
            "aof_last_write_status": "ok"}
    assert persistence_from_info(info, 1000.0).aof_last_write_status is None


def test_memory_percentage_is_none_without_maxmemory() -> None:
    assert Memory(used=50, maxmemory=0, policy="noeviction").used_pct is None
    assert Memory(used=50, maxmemory=200, policy="noeviction").used_pct == 25.0


def test_median_of_samples() -> None:
    assert median([0.003, 0.001, 0.002]) == 0.002
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize(("message", "grant"), [
    ("this user has no permissions to run the 'info' command", "+info"),
    ("this user has no permissions to run the 'select' command", "+select"),
    ("this user has no permissions to run the 'scan' command", "+@read"),
    ("this user has no permissions to run the 'config|get' command", "+config|get"),
    ("something else", "<the command ACL LOG names>"),
])
def test_noperm_names_the_grant(message: str, grant: str) -> None:
    assert grant_for(message) == grant


# ------------------------------------------------------------------------------------------------ client


def test_only_read_commands_are_allowed() -> None:
    assert frozenset({"PING", "INFO", "SCAN", "DBSIZE"}) == READ_ONLY_COMMANDS


@pytest.mark.parametrize("command", ["CONFIG", "KEYS", "FLUSHALL", "FLUSHDB", "DEBUG", "SET", "DEL", "ROLE"])
def test_the_client_refuses_other_commands_without_connecting(command: str) -> None:
    client = Client(Settings(url="redis://127.0.0.1:1/0"), Timeouts())
    with pytest.raises(ValueError, match=f"{command} is not a read-only command"):
        client._call(command)
    assert client.connect_attempts == 0
    assert client._redis is None


def test_creating_a_client_opens_nothing() -> None:
    client = Client(Settings(url="redis://192.0.2.1:6379/0"), Timeouts())
    assert client._redis is None
    assert client.connect_attempts == 0
    client.close()


def test_a_refused_connection_is_unreachable_after_one_attempt() -> None:
    """redis-py would retry 10 times with backoff by default; the client tries once."""
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Client(Settings(url=f"redis://:pw@127.0.0.1:{port}/0"), Timeouts(connect=1, read=1))
    started = time.monotonic()
    with pytest.raises(Unreachable, match=rf"PING to redis://127\.0\.0\.1:{port}/0 failed: .*refused"):
        client.ping()
    assert time.monotonic() - started < 0.5
    assert client.connect_attempts == 1
