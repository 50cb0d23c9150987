"""Redis: reachability, memory, evictions, refused clients, replication, persistence, cache hygiene, latency.

Every check needs only a monitoring ACL user: ``ACL SETUSER healthgate on >pw -@all +@read -@dangerous +info
+ping ~*`` (the client sends PING, INFO, SCAN and DBSIZE and nothing else).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, check
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.redis.client import describe_scan
from healthgate.targets.redis.facts import median
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.targets.redis import RedisTarget


@check(phases=ALL, severity="critical", runbook="ping")
def test_ping(redis: RedisTarget):
    """Redis answers PING with PONG (needs +ping)."""
    elapsed = redis.client.ping()
    evidence("PING", f"PONG from {redis.settings.address()} in {format_duration(elapsed)}")


@check(phases=ALL, severity="critical", runbook="memory")
def test_memory(redis: RedisTarget):
    """used_memory stays below the share of maxmemory in thresholds (seeds: memory < 80 %) (needs +info)."""
    memory = redis.client.memory()
    evidence("INFO memory", f"used_memory:{memory.used} ({format_size(memory.used)})\n"
                            f"maxmemory:{memory.maxmemory}\nmaxmemory_policy:{memory.policy}")
    if memory.used_pct is None:
        note("no maxmemory set: Redis can use all the host's memory")
        return
    expect(redis, "memory_used_pct", round(memory.used_pct, 1), "<", redis.thresholds.memory_used_pct, unit="%",
           hint=f"{format_size(memory.used)} of {format_size(memory.maxmemory)} used with policy "
                f"{memory.policy}: at maxmemory Redis "
                + ("refuses writes (OOM)" if memory.policy == "noeviction" else "evicts keys"))


@check(phases=(DAILY,), severity="warning", runbook="evicted-keys")
def test_evicted_keys(redis: RedisTarget):
    """Keys evicted since the server started stay within max_evicted_keys (default 0) (needs +info)."""
    counters = redis.client.counters()
    evidence("INFO stats", f"evicted_keys:{counters.evicted_keys}\nuptime_in_seconds:{counters.uptime_s}")
    expect(redis, "evicted_keys", counters.evicted_keys, "<=", redis.thresholds.max_evicted_keys,
           hint=f"counted since start {format_duration(counters.uptime_s)} ago: maxmemory was reached and keys "
                "were dropped; CONFIG RESETSTAT once explained")


@check(phases=(DAILY,), severity="warning", runbook="rejected-connections")
def test_rejected_connections(redis: RedisTarget):
    """Connections refused for maxclients since the server started stay within the threshold (default 0)
    (needs +info)."""
    counters = redis.client.counters()
    evidence("INFO stats", f"rejected_connections:{counters.rejected_connections}\n"
                           f"uptime_in_seconds:{counters.uptime_s}")
    expect(redis, "rejected_connections", counters.rejected_connections, "<=",
           redis.thresholds.max_rejected_connections,
           hint=f"counted since start {format_duration(counters.uptime_s)} ago: clients were turned away at "
                "maxclients; look for a connection leak, CONFIG RESETSTAT once explained")


@check(phases=ALL, severity="critical", runbook="replication")
def test_replication(redis: RedisTarget):
    """The server has the expected role; a replica's link to its master is up; a master has at least
    min_replicas replicas online (needs +info: INFO replication, as ROLE is @admin)."""
    settings = redis.settings
    replication = redis.client.replication()
    lines = [f"role:{replication.role}"]
    if replication.master_address:
        lines += [f"master:{replication.master_address}", f"master_link_status:{replication.master_link_status}",
                  f"master_last_io_seconds_ago:{replication.master_last_io_s}"]
    lines += [f"replica:{r.address} state={r.state} lag={r.lag_s}" for r in replication.replicas]
    evidence("INFO replication", "\n".join(lines))
    if settings.expect_role is None and replication.role == "master" and settings.min_replicas == 0:
        pytest.skip("standalone master and neither expect_role nor min_replicas set: nothing to judge")
    if settings.expect_role is not None:
        expect(redis, "role", replication.role, "==", settings.expect_role,
               hint="a failover happened or the profile points at the wrong server")
    if replication.role == "replica":
        expect(redis, "master_link_status", replication.master_link_status, "==", "up",
               hint=f"the replica lost its master {replication.master_address}: its data is getting stale")
    elif settings.min_replicas:
        expect(redis, "online_replicas", replication.online_replicas, ">=", settings.min_replicas,
               hint="a replica is down or resyncing: a failover now would lose data or availability")


@check(phases=ALL, severity="critical", runbook="persistence", applies=lambda s: s.persistence)
def test_persistence(redis: RedisTarget):
    """The last RDB background save succeeded (rdb_last_bgsave_status:ok) and, with AOF on, the last AOF write
    and rewrite did too (needs +info)."""
    if not redis.settings.persistence:
        pytest.skip("persistence: false in the profile (a pure cache)")
    state = redis.client.persistence()
    evidence("INFO persistence", f"rdb_last_bgsave_status:{state.rdb_last_bgsave_status}\n"
                                 f"rdb_bgsave_in_progress:{int(state.rdb_bgsave_in_progress)}\n"
                                 f"aof_enabled:{int(state.aof_enabled)}\n"
                                 f"aof_last_write_status:{state.aof_last_write_status}\n"
                                 f"aof_last_bgrewrite_status:{state.aof_last_bgrewrite_status}")
    expect(redis, "rdb_last_bgsave_status", state.rdb_last_bgsave_status, "==", "ok",
           hint="the last BGSAVE failed (disk full or dir not writable?): with stop-writes-on-bgsave-error Redis "
                "now refuses writes; see the server log")
    if state.aof_enabled:
        expect(redis, "aof_last_write_status", state.aof_last_write_status, "==", "ok",
               hint="writing the append-only file failed: check the disk of the AOF directory")
        expect(redis, "aof_last_bgrewrite_status", state.aof_last_bgrewrite_status, "==", "ok",
               hint="the last AOF rewrite failed: the AOF keeps growing; see the server log")


@check(phases=(DAILY,), severity="warning", runbook="last-save-age", applies=lambda s: s.persistence)
def test_last_save_age(redis: RedisTarget):
    """The last successful RDB save is younger than last_save_age (default 26 h) when data changed since
    (needs +info)."""
    if not redis.settings.persistence:
        pytest.skip("persistence: false in the profile (a pure cache)")
    state = redis.client.persistence()
    age = state.last_save_age_s
    evidence("INFO persistence", f"rdb_last_save_time:{state.rdb_last_save_time:.0f} "
                                 f"({format_duration(age)} ago)\n"
                                 f"rdb_changes_since_last_save:{state.rdb_changes_since_last_save}")
    limit = redis.thresholds.last_save_age
    if age > limit and state.rdb_changes_since_last_save == 0:
        note(f"last save {format_duration(age)} ago, but nothing changed since: the dump is current")
        return
    expect(redis, "last_save_age_s", round(age, 1), "<=", limit, unit="s",
           hint=f"{state.rdb_changes_since_last_save} changes are not in any dump, the last save is "
                f"{format_duration(age)} old: check the save schedule (CONFIG GET save) and BGSAVE errors")


@check(phases=(DAILY,), severity="warning", runbook="expired-cache-keys",
       applies=lambda s: bool(s.cache_patterns))
def test_expired_cache_keys(redis: RedisTarget):
    """Keys matching each configured cache pattern stay within its max, counted with a bounded SCAN
    (never KEYS) (needs +scan, +dbsize: in +@read)."""
    patterns = redis.settings.cache_patterns
    if not patterns:
        pytest.skip("no cache_patterns configured for this target")
    results = [(spec, redis.client.count_keys(spec.pattern)) for spec in patterns]
    evidence("SCAN", "\n".join(f"{describe_scan(r)}: {r.matched} matching (max {s.max})" for s, r in results))
    for spec, result in results:
        if not result.complete and result.matched <= spec.max:
            fail(redis, f"keys matching {spec.pattern!r}: scan stopped at about {result.examined} keys after "
                        f"{format_duration(result.elapsed_s)} (scan.{result.stopped_by}); count is at least "
                        f"{result.matched}, cannot tell whether it is <= {spec.max} — raise scan.max_keys / "
                        f"scan.max_seconds for this target, or narrow the pattern")
        expect(redis, f"keys matching {spec.pattern!r}", result.matched, "<=", spec.max,
               hint=("at least that many: the scan stopped early; " if not result.complete else "")
               + "stale cache entries pile up: is the cleanup job running? delete them with SCAN + UNLINK")


@check(phases=ALL, severity="warning", runbook="ping-latency")
def test_ping_latency(redis: RedisTarget):
    """The median (and, if set, the slowest) of a few PING round trips stays below the threshold
    (default median 10 ms) (needs +ping)."""
    samples = redis.client.ping_samples(redis.settings.ping_samples)
    middle = median(samples)
    slowest = max(samples)
    evidence("PING samples", ", ".join(format_duration(s) if s >= 1 else f"{s * 1000:.2f}ms" for s in samples))
    hint = ("the server is busy (slow commands: SLOWLOG GET; a fork for BGSAVE; swapping) or the network "
            "between here and Redis is slow")
    expect(redis, "ping_median_ms", round(middle * 1000, 2), "<=", redis.thresholds.ping_median * 1000,
           unit="ms", hint=hint)
    if redis.thresholds.ping_max is not None:
        expect(redis, "ping_max_ms", round(slowest * 1000, 2), "<=", redis.thresholds.ping_max * 1000,
               unit="ms", hint=hint)
