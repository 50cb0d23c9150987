"""Every Redis check against the stack's real server: passes when healthy, fails with its message when the
fault is injected through the server itself (admin connection), passes again once repaired.

Faults change the shared server, so each test repairs in ``finally`` and leaves it as it found it.
"""

from __future__ import annotations

import fcntl
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

import checks.test_redis as checks
from healthgate.check import spec_of
from healthgate.stack.stack import STACK_LABEL, Stack
from healthgate.targets.base import Target, Timeouts
from healthgate.testing import Outcome, make_target, run_check
from tests.polling import eventually

pytestmark = pytest.mark.stack

KEY_PREFIX = "healthgate-test:"
FILL = KEY_PREFIX + "fill:"
ALL_CHECKS = [getattr(checks, name) for name in dir(checks) if spec_of(getattr(checks, name)) is not None]


# -------------------------------------------------------------------------------------------------- tools


def redis_target(stack: Stack, *, monitor: bool = False, timeouts: Timeouts | None = None,
                 **settings: Any) -> Target:
    env = stack.env()
    url = env["STACK_REDIS_MONITOR_URL" if monitor else "STACK_REDIS_URL"]
    return make_target("redis", {"url": url, **settings}, timeouts=timeouts)


def run(check: Callable[..., Any], stack: Stack, **settings: Any) -> Outcome:
    target = redis_target(stack, **settings)
    try:
        return run_check(check, target)
    finally:
        target.close()




def delete_matching(admin: redis_lib.Redis, pattern: str) -> None:
    batch: list[str] = []
    for key in admin.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 500:
            admin.unlink(*batch)
            batch.clear()
    if batch:
        admin.unlink(*batch)


def fill(admin: redis_lib.Redis, until: Callable[[], bool], *, value_size: int = 64 * 1024,
         limit: int = 4000) -> int:
    """Write big values until ``until()`` holds or the server refuses writes (OOM); returns keys written."""
    value = "x" * value_size
    for i in range(limit):
        try:
            admin.set(f"{FILL}{i}", value)
        except redis_lib.exceptions.OutOfMemoryError:
            return i
        if i % 8 == 0 and until():
            return i + 1
    raise AssertionError(f"condition not reached after {limit} keys of {value_size} bytes")


def config(admin: redis_lib.Redis, name: str) -> str:
    return str(admin.config_get(name)[name])


def wait_bgsave_done(admin: redis_lib.Redis) -> dict[str, Any]:
    return eventually(lambda: admin.info("persistence"), lambda i: not i["rdb_bgsave_in_progress"], 30,
                      "BGSAVE finished")


def bgsave(admin: redis_lib.Redis) -> dict[str, Any]:
    wait_bgsave_done(admin)
    admin.bgsave()
    return wait_bgsave_done(admin)


@pytest.fixture(autouse=True)
def one_at_a_time(stack: Stack) -> Iterator[None]:
    """Faults change the one shared server: tests of this module on other xdist workers wait their turn."""
    path = Path(tempfile.gettempdir()) / f"healthgate-{stack.stack_id}-redis.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def admin(stack: Stack) -> Iterator[redis_lib.Redis]:
    client = stack.redis_admin()
    try:
        yield client
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------- healthy


def test_every_check_passes_on_the_healthy_server(stack: Stack) -> None:
    target = redis_target(stack, expect_role="master",
                          cache_patterns=[{"pattern": "cache:*:expired", "max": 1000}])
    try:
        outcomes = {fn.__name__: run_check(fn, target).status for fn in ALL_CHECKS}
    finally:
        target.close()
    assert outcomes == {fn.__name__: "passed" for fn in ALL_CHECKS}
    assert target.connect_attempts == 1, "one connection is reused by every check of a target"


def test_the_monitoring_acl_user_passes_every_check_and_is_never_refused(stack: Stack,
                                                                         admin: redis_lib.Redis) -> None:
    admin.execute_command("ACL", "LOG", "RESET")
    target = redis_target(stack, monitor=True, expect_role="master",
                          cache_patterns=[{"pattern": "cache:*:expired", "max": 1000}])
    try:
        outcomes = {fn.__name__: run_check(fn, target) for fn in ALL_CHECKS}
    finally:
        target.close()
    assert {name: o.status for name, o in outcomes.items()} == {fn.__name__: "passed" for fn in ALL_CHECKS}
    # ACL LOG records every command the server refused: not one came from the checks' client (redis_exporter,
    # with a read-only user of its own, has some read commands refused: they are not the checks').
    refused = [(e["username"], e["object"]) for e in admin.acl_log(count=100) if e["username"] != "redis_exporter"]
    assert refused == []


@pytest.mark.parametrize("command", [
    ("CONFIG", "SET", "maxmemory", "1"),
    ("SET", KEY_PREFIX + "write", "1"),
    ("FLUSHALL",),
    ("KEYS", "*"),
    ("ROLE",),
])
def test_the_monitoring_user_cannot_write_or_administer(stack: Stack, command: tuple[str, ...]) -> None:
    monitor = redis_lib.Redis.from_url(stack.env()["STACK_REDIS_MONITOR_URL"], retry=Retry(NoBackoff(), 0),
                                       socket_timeout=5, decode_responses=True)
    try:
        with pytest.raises(redis_lib.exceptions.NoPermissionError,
                           match=f"no permissions to run the '{command[0].lower()}"):
            monitor.execute_command(*command)
    finally:
        monitor.close()


def test_the_client_refuses_to_send_anything_but_read_only_commands(stack: Stack) -> None:
    target = redis_target(stack)
    with pytest.raises(ValueError, match="CONFIG is not a read-only command"):
        target.client._call("CONFIG", "SET", "maxmemory", "1")
    assert target.connect_attempts == 0, "refused before any connection"


# ------------------------------------------------------------------------------------------------ ping


def test_ping_is_broken_fast_when_the_server_is_paused_and_other_checks_fail_at_once(stack: Stack) -> None:
    target = redis_target(stack, timeouts=Timeouts(connect=1.0, read=1.0))
    stack.pause("redis")
    try:
        started = time.monotonic()
        first = run_check(checks.test_ping, target)
        first_took = time.monotonic() - started
        started = time.monotonic()
        second = run_check(checks.test_memory, target)
        second_took = time.monotonic() - started
    finally:
        stack.unpause("redis")
    assert first.status == "broken", first
    assert re.match(r"PING to redis://127\.0\.0\.1:\d+/0 timed out \(connect 1s / read 1s\)", first.message), first
    assert first_took < 3.0
    assert target.connect_attempts == 1
    assert second.status == "broken", second
    assert "redis:test was found unreachable earlier in this run" in second.message
    assert second_took < 0.1
    assert target.connect_attempts == 1, "the second check must not try to connect again"
    target.reset()
    assert run_check(checks.test_ping, target).status == "passed"
    target.close()


def test_refused_password_is_an_auth_error_not_a_failure(stack: Stack) -> None:
    env = stack.env()
    url = f"redis://healthgate:wrong-password@{env['STACK_REDIS_HOST']}:{env['STACK_REDIS_PORT']}/0"
    outcome = run_check(checks.test_ping, make_target("redis", {"url": url}))
    assert outcome.status == "broken"
    assert "refused the credentials of user 'healthgate'" in outcome.message
    assert "wrong-password" not in outcome.message


def test_a_missing_grant_is_named(stack: Stack) -> None:
    # SELECT is not granted to the monitoring user: a non-zero db needs it.
    url = stack.env()["STACK_REDIS_MONITOR_URL"].removesuffix("/0") + "/1"
    outcome = run_check(checks.test_ping, make_target("redis", {"url": url}))
    assert outcome.status == "broken", outcome
    assert "ACL SETUSER healthgate +select" in outcome.message


# ------------------------------------------------------------------------------------------------ memory


def test_memory_fails_near_maxmemory_and_warns_without_one(stack: Stack, admin: redis_lib.Redis) -> None:
    original = config(admin, "maxmemory")
    try:
        admin.config_set("maxmemory", str(1024**3))
        healthy = run(checks.test_memory, stack)
        assert (healthy.status, healthy.record.warnings) == ("passed", [])

        used = int(admin.info("memory")["used_memory"])
        maxmemory = used + 4 * 1024**2
        admin.config_set("maxmemory", str(maxmemory))
        fill(admin, lambda: int(admin.info("memory")["used_memory"]) > 0.9 * maxmemory)
        broken = run(checks.test_memory, stack)
        assert broken.status == "failed", broken
        assert re.match(r"redis:test: memory_used_pct \((9\d|100)(\.\d)? %\) < 80 % — .* used with policy "
                        r"noeviction: at maxmemory Redis refuses writes \(OOM\)", broken.message), broken.message
    finally:
        delete_matching(admin, FILL + "*")
        admin.config_set("maxmemory", original)
    repaired = run(checks.test_memory, stack)
    assert repaired.status == "passed"
    assert repaired.record.warnings == ["no maxmemory set: Redis can use all the host's memory"]


def test_evicted_keys_fail_until_allowed_or_reset(stack: Stack, admin: redis_lib.Redis) -> None:
    assert run(checks.test_evicted_keys, stack).status == "passed"
    original = {name: config(admin, name) for name in ("maxmemory", "maxmemory-policy")}
    try:
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory-policy", "allkeys-lru")
        admin.config_set("maxmemory", str(used + 2 * 1024**2))
        fill(admin, lambda: int(admin.info("stats")["evicted_keys"]) > 0)
        broken = run(checks.test_evicted_keys, stack)
        assert broken.status == "failed", broken
        match = re.match(r"redis:test: evicted_keys \((\d+)\) <= 0 — counted since start", broken.message)
        assert match, broken.message
        allowed = run(checks.test_evicted_keys, stack, thresholds={"max_evicted_keys": int(match[1]) + 1000})
        assert allowed.status == "passed"
    finally:
        admin.config_set("maxmemory", original["maxmemory"])
        admin.config_set("maxmemory-policy", original["maxmemory-policy"])
        delete_matching(admin, FILL + "*")
        admin.config_resetstat()
    assert run(checks.test_evicted_keys, stack).status == "passed"


def test_rejected_connections_fail_after_maxclients_turned_one_away(stack: Stack, admin: redis_lib.Redis) -> None:
    assert run(checks.test_rejected_connections, stack).status == "passed"
    original = config(admin, "maxclients")
    try:
        admin.config_set("maxclients", str(admin.info("clients")["connected_clients"]))
        extra = stack.redis_admin()
        with pytest.raises(redis_lib.exceptions.RedisError, match="max number of clients reached"):
            extra.ping()
        extra.close()
    finally:
        admin.config_set("maxclients", original)
    try:
        broken = run(checks.test_rejected_connections, stack)
        assert broken.status == "failed", broken
        assert broken.message.startswith("redis:test: rejected_connections (1) <= 0 — counted since start")
    finally:
        admin.config_resetstat()
    assert run(checks.test_rejected_connections, stack).status == "passed"


# ------------------------------------------------------------------------------------------------ replication


def test_replication_skips_a_standalone_master_and_judges_expectations(stack: Stack) -> None:
    skipped = run(checks.test_replication, stack)
    assert skipped.status == "skipped"
    assert "standalone master" in skipped.message
    assert run(checks.test_replication, stack, expect_role="master").status == "passed"

    wrong_role = run(checks.test_replication, stack, expect_role="replica")
    assert wrong_role.status == "failed"
    assert wrong_role.message.startswith("redis:test: role (master) == replica — a failover happened")

    no_replica = run(checks.test_replication, stack, min_replicas=1)
    assert no_replica.status == "failed"
    assert no_replica.message.startswith("redis:test: online_replicas (0) >= 1")


@pytest.fixture
def replica(stack: Stack) -> Iterator[tuple[redis_lib.Redis, str]]:
    """A second server replicating the stack's Redis over the stack network; removed afterwards."""
    master = stack.docker_container("redis")
    network = next(iter(master.attrs["NetworkSettings"]["Networks"]))
    password = stack.env()["STACK_REDIS_PASSWORD"]
    container = master.client.containers.run(
        master.attrs["Config"]["Image"],
        ["redis-server", "--replicaof", "redis", "6379", "--masterauth", password, "--requirepass", password],
        detach=True, network=network, ports={"6379/tcp": ("127.0.0.1", None)},
        labels={STACK_LABEL: stack.stack_id}, name=f"healthgate-{stack.stack_id}-redis-replica",
    )
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["6379/tcp"][0]["HostPort"])
        url = f"redis://:{password}@127.0.0.1:{port}/0"
        client = redis_lib.Redis.from_url(url, socket_timeout=5, retry=Retry(NoBackoff(), 0),
                                          decode_responses=True)

        def link() -> str:
            try:
                return str(client.info("replication").get("master_link_status"))
            except redis_lib.exceptions.RedisError as exc:
                return f"not ready: {exc}"

        eventually(link, lambda status: status == "up", 30, "replica linked to the stack's Redis")
        yield client, url
        client.close()
    finally:
        container.remove(force=True, v=True)


def test_replica_link_down_fails_and_a_master_counts_its_replicas(
        stack: Stack, replica: tuple[redis_lib.Redis, str]) -> None:
    client, url = replica
    on_replica = make_target("redis", {"url": url, "expect_role": "replica"})
    assert run_check(checks.test_replication, on_replica).status == "passed"
    eventually(lambda: run(checks.test_replication, stack, min_replicas=1).status, lambda s: s == "passed", 10,
               "master sees its replica online")
    try:
        client.replicaof("nowhere.invalid", 6379)
        on_replica.reset()
        broken = run_check(checks.test_replication, on_replica)
        assert broken.status == "failed", broken
        assert broken.message.startswith("redis:test: master_link_status (down) == up — the replica lost its "
                                         "master nowhere.invalid:6379")
    finally:
        client.replicaof("redis", 6379)
    eventually(lambda: client.info("replication").get("master_link_status"), lambda s: s == "up", 30,
               "replica linked again")
    on_replica.reset()
    assert run_check(checks.test_replication, on_replica).status == "passed"
    on_replica.close()


# ------------------------------------------------------------------------------------------------ persistence


def test_persistence_fails_after_a_failed_bgsave(stack: Stack, admin: redis_lib.Redis) -> None:
    assert run(checks.test_persistence, stack).status == "passed"
    code, mode = stack.exec("redis", ["stat", "-c", "%a", "/data"])
    assert code == 0, mode
    try:
        # The server runs as the owner of /data: without the write bit it cannot create its temp dump.
        assert stack.exec("redis", ["chmod", "0555", "/data"])[0] == 0
        status = bgsave(admin)
        assert status["rdb_last_bgsave_status"] == "err"
        broken = run(checks.test_persistence, stack)
        assert broken.status == "failed", broken
        assert broken.message.startswith("redis:test: rdb_last_bgsave_status (err) == ok — the last BGSAVE failed")
    finally:
        stack.exec("redis", ["chmod", mode.strip(), "/data"])
        bgsave(admin)
    assert run(checks.test_persistence, stack).status == "passed"


def wait_persistence_idle(admin: redis_lib.Redis) -> dict[str, Any]:
    return eventually(lambda: admin.info("persistence"),
                      lambda i: not (i["aof_rewrite_in_progress"] or i["aof_rewrite_scheduled"]
                                     or i["rdb_bgsave_in_progress"]), 30, "no save or AOF rewrite running")


def test_persistence_fails_after_a_failed_aof_rewrite(stack: Stack, admin: redis_lib.Redis) -> None:
    original = config(admin, "appendonly")
    code, mode = stack.exec("redis", ["stat", "-c", "%a", "/data"])
    assert code == 0, mode
    try:
        admin.config_set("appendonly", "yes")
        assert wait_persistence_idle(admin)["aof_enabled"] == 1
        assert run(checks.test_persistence, stack).status == "passed"
        # The rewrite writes its temp file in /data before moving it into appendonlydir.
        assert stack.exec("redis", ["chmod", "0555", "/data"])[0] == 0
        admin.bgrewriteaof()
        assert wait_persistence_idle(admin)["aof_last_bgrewrite_status"] == "err"
        broken = run(checks.test_persistence, stack)
        assert broken.status == "failed", broken
        assert broken.message.startswith("redis:test: aof_last_bgrewrite_status (err) == ok — the last AOF "
                                         "rewrite failed")
        stack.exec("redis", ["chmod", mode.strip(), "/data"])
        admin.bgrewriteaof()
        assert wait_persistence_idle(admin)["aof_last_bgrewrite_status"] == "ok"
        assert run(checks.test_persistence, stack).status == "passed"
    finally:
        stack.exec("redis", ["chmod", mode.strip(), "/data"])
        wait_persistence_idle(admin)
        admin.config_set("appendonly", original)
        if original == "no":
            stack.exec("redis", ["rm", "-rf", "/data/appendonlydir"])
    assert run(checks.test_persistence, stack).status == "passed"


def test_persistence_checks_skip_on_a_pure_cache(stack: Stack) -> None:
    assert run(checks.test_persistence, stack, persistence=False).status == "skipped"
    assert run(checks.test_last_save_age, stack, persistence=False).status == "skipped"


def test_last_save_age_fails_when_changes_wait_too_long(stack: Stack, admin: redis_lib.Redis) -> None:
    bgsave(admin)
    tight = {"thresholds": {"last_save_age": "1s"}}
    admin.set(KEY_PREFIX + "change", "1")
    try:
        time.sleep(2.2)
        broken = run(checks.test_last_save_age, stack, **tight)
        assert broken.status == "failed", broken
        assert re.match(r"redis:test: last_save_age_s \(\d+(\.\d)? s\) <= 1 s — \d+ changes are not in any dump",
                        broken.message), broken.message
    finally:
        admin.delete(KEY_PREFIX + "change")
        bgsave(admin)
    time.sleep(2.2)
    quiet = run(checks.test_last_save_age, stack, **tight)
    assert quiet.status == "passed"
    assert quiet.record.warnings[0].endswith("but nothing changed since: the dump is current")
    assert run(checks.test_last_save_age, stack).status == "passed"


# ------------------------------------------------------------------------------------------------ cache keys


def test_expired_cache_keys_counted_with_a_bounded_scan(stack: Stack, admin: redis_lib.Redis) -> None:
    patterns = [{"pattern": "cache:*:expired", "max": 10}]
    assert run(checks.test_expired_cache_keys, stack).status == "skipped"
    assert run(checks.test_expired_cache_keys, stack, cache_patterns=patterns).status == "passed"
    try:
        admin.mset({f"cache:{i}:expired": "1" for i in range(15)} | {f"cache:{i}:fresh": "1" for i in range(15)})
        broken = run(checks.test_expired_cache_keys, stack, cache_patterns=patterns)
        assert broken.status == "failed", broken
        assert broken.message.startswith("redis:test: keys matching 'cache:*:expired' (15) <= 10 — stale cache")

        admin.mset({f"{FILL}{i}": "1" for i in range(300)})
        bounded = run(checks.test_expired_cache_keys, stack, cache_patterns=[{"pattern": "cache:*:expired",
                                                                               "max": 100}],
                      scan={"count": 2, "max_keys": 10})
        assert bounded.status == "failed", bounded
        assert re.match(r"redis:test: keys matching 'cache:\*:expired': scan stopped at about 10 keys after "
                        r"\d+ms \(scan\.max_keys\); count is at least \d+, cannot tell", bounded.message), bounded
    finally:
        delete_matching(admin, "cache:*")
        delete_matching(admin, FILL + "*")
    assert run(checks.test_expired_cache_keys, stack, cache_patterns=patterns).status == "passed"


# ------------------------------------------------------------------------------------------------ latency


def test_ping_latency_fails_while_the_server_is_busy(stack: Stack) -> None:
    assert run(checks.test_ping_latency, stack).status == "passed"
    busy = threading.Event()
    stop = threading.Event()
    # A script that spins for 50 ms blocks the single-threaded server as a slow command in production would.
    spin = ("local s = redis.call('TIME') local t0 = s[1] * 1000000 + s[2] "
            "repeat local t = redis.call('TIME') until (t[1] * 1000000 + t[2]) - t0 >= tonumber(ARGV[1]) "
            "return 1")

    def keep_busy() -> None:
        client = stack.redis_admin()
        try:
            while not stop.is_set():
                client.eval(spin, 0, 50_000)
                busy.set()
        finally:
            client.close()

    worker = threading.Thread(target=keep_busy, daemon=True)
    worker.start()
    try:
        assert busy.wait(5)
        slow = run(checks.test_ping_latency, stack)
    finally:
        stop.set()
        worker.join(10)
    assert slow.status == "failed", slow
    assert re.match(r"redis:test: ping_median_ms \(\d+(\.\d+)? ms\) <= 10 ms — the server is busy",
                    slow.message), slow.message
    assert run(checks.test_ping_latency, stack).status == "passed"
