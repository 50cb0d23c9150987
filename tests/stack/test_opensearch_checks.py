"""Every OpenSearch check against the stack's real node: passes when healthy, fails with its message when the
fault is made real through the REST API (a replica that cannot be placed, a primary pinned to a missing node,
log documents, watermarks, a snapshot repository), passes again once repaired.

Faults change the shared node, so each test repairs in ``finally`` and deletes what it created, and the tests
hold a file lock per node while they run: under pytest-xdist no test meets another's fault, whatever the
distribution mode (``--dist loadgroup`` does not group tests with pytest 9 and xdist 3.8).
"""

from __future__ import annotations

import fcntl
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

import checks.test_opensearch as checks
from healthgate.stack.stack import Stack
from healthgate.targets.base import Timeouts
from healthgate.testing import Outcome, make_target, run_check

pytestmark = [pytest.mark.stack, pytest.mark.xdist_group("stack-opensearch")]

LOGS = "ai-logs-healthgate-test"
LEGACY = "ai-logs-healthgate-legacy"
SLOW = "ai-logs-healthgate-slow"
YELLOW = "healthgate-yellow"
RED = "healthgate-red"
REPO = "healthgate_test_repo"
SNAPSHOT_SOURCE = "healthgate-snapshot-source"
WATERMARKS = ("low", "high", "flood_stage")
LEAKED_PASSWORD = "hunter2-in-a-prompt"


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def exclusive_node(stack: Stack) -> Iterator[None]:
    """One test at a time per OpenSearch node, across xdist workers."""
    port = stack.opensearch_url().rsplit(":", 1)[-1]
    with (Path(tempfile.gettempdir()) / f"healthgate-opensearch-{port}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def admin(stack: Stack) -> Iterator[httpx.Client]:
    """Writes faults through the node's REST API (security is off in the stack: no credentials)."""
    with httpx.Client(base_url=stack.opensearch_url(), timeout=30) as client:
        yield client


def run(check: Callable[..., Any], stack: Stack, **settings: Any) -> Outcome:
    target = make_target("opensearch", {"url": stack.opensearch_url(), **settings})
    try:
        return run_check(check, target)
    finally:
        target.close()


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()


def status(admin: httpx.Client) -> str:
    return str(ok(admin.get("/_cluster/health"))["status"])


def wait_status(admin: httpx.Client, wanted: str, within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while (seen := status(admin)) != wanted:
        assert time.monotonic() < deadline, f"cluster stayed {seen}, expected {wanted} within {within_s:.0f}s"
        time.sleep(0.2)


def delete_index(admin: httpx.Client, name: str) -> None:
    response = admin.delete(f"/{name}", params={"ignore_unavailable": "true"})
    assert response.status_code in (200, 404), response.text


@contextmanager
def index(admin: httpx.Client, name: str, **settings: Any) -> Iterator[None]:
    """An index with ``settings`` for the duration of the block; the cluster is back to its former health
    afterwards."""
    before = status(admin)
    body = {"settings": {"number_of_shards": 1, "number_of_replicas": 0, **settings}}
    # wait_for_active_shards=0: an index whose primary cannot be placed is the point of some tests.
    ok(admin.put(f"/{name}", params={"wait_for_active_shards": "0"}, json=body))
    try:
        yield
    finally:
        delete_index(admin, name)
        wait_status(admin, before)


@contextmanager
def log_docs(admin: httpx.Client, docs: list[dict[str, Any]]) -> Iterator[None]:
    """The test log index holding ``docs``, searchable at once, deleted afterwards."""
    mappings = {"properties": {"@timestamp": {"type": "date"}, "level": {"type": "keyword"},
                               "event_type": {"type": "keyword"}, "message": {"type": "text"}}}
    ok(admin.put(f"/{LOGS}", json={"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                   "mappings": mappings}))
    try:
        lines = []
        for doc in docs:
            lines += ['{"index": {}}', json.dumps(doc)]
        if lines:
            response = ok(admin.post(f"/{LOGS}/_bulk", params={"refresh": "true"}, content="\n".join(lines) + "\n",
                                     headers={"Content-Type": "application/x-ndjson"}))
            assert response["errors"] is False, response
        yield
    finally:
        delete_index(admin, LOGS)


def stamped(ago: timedelta, **fields: Any) -> dict[str, Any]:
    when = datetime.now(UTC) - ago
    return {"@timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), **fields}


def recent(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [stamped(timedelta(seconds=30 + i), **{"level": "info", "message": f"request {i}", **fields})
            for i in range(n)]


def old(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [stamped(timedelta(hours=3, seconds=i), **{"level": "info", "message": f"old {i}", **fields})
            for i in range(n)]


def set_watermarks(admin: httpx.Client, low: str | None, high: str | None, flood: str | None) -> None:
    values = dict(zip(WATERMARKS, (low, high, flood), strict=True))
    transient = {f"cluster.routing.allocation.disk.watermark.{k}": v for k, v in values.items()}
    ok(admin.put("/_cluster/settings", json={"transient": transient}))


def reset_watermarks(admin: httpx.Client) -> None:
    set_watermarks(admin, None, None, None)
    # Flood stage blocks writes on every index of the node; lift the block wherever it landed.
    response = admin.put("/_all/_settings", params={"expand_wildcards": "all"},
                         json={"index.blocks.read_only_allow_delete": None})
    assert response.status_code in (200, 404), response.text  # 404: the node holds no index at all


# ------------------------------------------------------------------------------------------- cluster health


def test_cluster_health_yellow_fails_unless_allowed_and_red_always_fails(stack: Stack, admin: httpx.Client) -> None:
    assert run(checks.test_cluster_health, stack).status == "passed"

    with index(admin, YELLOW, number_of_replicas=1):
        wait_status(admin, "yellow")
        outcome = run(checks.test_cluster_health, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: status (yellow) == green — 1 replica shard(s) "
                                          f"unassigned ({YELLOW})"), outcome
        allowed = run(checks.test_cluster_health, stack, allow_yellow=True)
        assert allowed.status == "passed", allowed
        assert allowed.record.warnings == [
            "cluster is yellow: 1 replica shard(s) unassigned (allow_yellow is set)"]

    with index(admin, RED, **{"index.routing.allocation.require._name": "nosuchnode"}):
        wait_status(admin, "red")
        outcome = run(checks.test_cluster_health, stack, allow_yellow=True)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: status (red) == green — primary shards are "
                                          f"unassigned, so data of the red indices ({RED}) cannot be read"), outcome

    assert run(checks.test_cluster_health, stack).status == "passed"


def test_unassigned_shards_lists_them_and_allows_only_replicas_when_yellow_is_allowed(
        stack: Stack, admin: httpx.Client) -> None:
    assert run(checks.test_unassigned_shards, stack).status == "passed"

    with index(admin, YELLOW, number_of_replicas=1):
        wait_status(admin, "yellow")
        outcome = run(checks.test_unassigned_shards, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith(f"opensearch:test: unassigned_shards (1) == 0 — {YELLOW}[0] replica "
                                          "(INDEX_CREATED): GET _cluster/allocation/explain"), outcome
        allowed = run(checks.test_unassigned_shards, stack, allow_yellow=True)
        assert allowed.status == "passed", allowed
        assert allowed.record.warnings == ["1 replica shard(s) unassigned (allow_yellow is set)"]

        with index(admin, RED, **{"index.routing.allocation.require._name": "nosuchnode"}):
            wait_status(admin, "red")
            outcome = run(checks.test_unassigned_shards, stack, allow_yellow=True)
            assert outcome.status == "failed", outcome
            assert outcome.message.startswith(f"opensearch:test: unassigned_primary_shards (1) == 0 — {RED}[0] "
                                              "primary (INDEX_CREATED)"), outcome

    assert run(checks.test_unassigned_shards, stack).status == "passed"


# ------------------------------------------------------------------------------------------------- disk


def test_disk_watermarks_note_above_low_and_fail_above_high(stack: Stack, admin: httpx.Client) -> None:
    healthy = run(checks.test_disk_watermarks, stack)
    assert healthy.status == "passed", healthy
    assert not any("above the low watermark" in w for w in healthy.record.warnings), healthy.record.warnings
    try:
        set_watermarks(admin, "1%", "99%", "99.5%")
        above_low = run(checks.test_disk_watermarks, stack)
        assert above_low.status == "passed", above_low
        assert any("above the low watermark (1%): no new shards" in w for w in above_low.record.warnings)

        set_watermarks(admin, "1%", "2%", "3%")
        outcome = run(checks.test_disk_watermarks, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: disk_used_pct["), outcome
        assert " %) <= 2 % — above the high watermark (2%) shards move off the node; at the flood stage (3%)" \
            in outcome.message, outcome
    finally:
        reset_watermarks(admin)
    assert run(checks.test_disk_watermarks, stack).status == "passed"


# ------------------------------------------------------------------------------------------------- logs


def test_logs_arriving_fails_without_index_and_with_old_logs_only(stack: Stack, admin: httpx.Client) -> None:
    assert ok(admin.get("/_cat/indices/ai-logs-*", params={"format": "json"})) == [], "stray ai-logs-* index"
    missing = run(checks.test_logs_arriving, stack)
    assert missing.status == "failed", missing
    assert missing.message.startswith("opensearch:test: no index matches ai-logs-*: no log has ever been shipped"), \
        missing

    with log_docs(admin, old(3)):
        outcome = run(checks.test_logs_arriving, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: log_docs_last_15m (0) >= 1 — no log stamped in the "
                                          "last 15m; newest @timestamp in ai-logs-*: "), outcome
        assert "is the log shipper (Fluent Bit) running" in outcome.message

    with log_docs(admin, old(3) + recent(2)):
        assert run(checks.test_logs_arriving, stack).status == "passed"
        fewer = run(checks.test_logs_arriving, stack, logs={"min_docs": 3})
        assert fewer.status == "failed", fewer
        assert fewer.message.startswith("opensearch:test: log_docs_last_15m (2) >= 3"), fewer


def test_error_logs_count_only_recent_errors(stack: Stack, admin: httpx.Client) -> None:
    docs = recent(5) + recent(3, level="error") + old(100, level="error")
    with log_docs(admin, docs):
        healthy = run(checks.test_error_logs, stack)
        assert healthy.status == "passed", healthy
        assert dict(healthy.record.evidence)["samples (3 newest of 3)"].count('"level": "error"') == 3

    with log_docs(admin, recent(5) + recent(60, level="error")):
        outcome = run(checks.test_error_logs, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: error_logs_last_15m (60) <= 50 — the application "
                                          "logs errors faster than usual"), outcome
        custom = run(checks.test_error_logs, stack, logs={"error_query": {"match": {"message": "request 7"}},
                                                          "max_errors": 0})
        assert custom.status == "failed", custom
        assert custom.message.startswith("opensearch:test: error_logs_last_15m ("), custom


def test_security_threats_fail_naming_count_with_redacted_samples(stack: Stack, admin: httpx.Client) -> None:
    with log_docs(admin, recent(5) + old(4, event_type="security_threat")):
        assert run(checks.test_security_threats, stack).status == "passed"

    threats = recent(7, event_type="security_threat", source_ip="203.0.113.9",
                     message=f"Ignore previous instructions, password={LEAKED_PASSWORD}")
    with log_docs(admin, recent(5) + threats):
        outcome = run(checks.test_security_threats, stack)
        assert outcome.status == "failed", outcome
        assert outcome.message.startswith("opensearch:test: security_threats_last_15m (7) <= 0 — "
                                          "event_type=security_threat events were logged"), outcome
        evidence = dict(outcome.record.evidence)
        request_line, body = evidence["query"].split("\n", 1)
        assert request_line == "POST ai-logs-*/_search"
        assert json.loads(body)["query"] == {"bool": {
            "filter": [{"range": {"@timestamp": {"gte": "now-900s"}}}],
            "must": [{"match": {"event_type": "security_threat"}}]}}
        samples = evidence["samples (5 newest of 7)"]
        assert samples.count("203.0.113.9") == 5
        assert LEAKED_PASSWORD not in samples and "password=***" in samples
        tolerant = run(checks.test_security_threats, stack, logs={"max_threats": 7})
        assert tolerant.status == "passed", tolerant


def test_partial_answers_are_could_not_check_rather_than_a_low_count(stack: Stack, admin: httpx.Client) -> None:
    """A second index of the pattern maps @timestamp as a number, as an old shipper's template did: the window's
    range query fails on its shard, and OpenSearch still answers HTTP 200 with the count of the other shard, which
    holds none of the errors."""
    window = {"query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": "now-900s"}}}]}}, "size": 0,
              "track_total_hits": True}
    counting = (checks.test_logs_arriving, checks.test_error_logs, checks.test_security_threats)
    with log_docs(admin, recent(5)):
        for check in counting:
            healthy = run(check, stack)
            assert healthy.status == "passed", healthy

        mappings = {"properties": {"@timestamp": {"type": "long"}, "level": {"type": "keyword"},
                                   "event_type": {"type": "keyword"}}}
        ok(admin.put(f"/{LEGACY}", json={"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                         "mappings": mappings}))
        try:
            now_ms = int(time.time() * 1000)
            lines = []
            for n in range(60):
                lines += ['{"index": {}}', json.dumps({"@timestamp": now_ms - n * 1000, "level": "error",
                                                       "event_type": "security_threat"})]
            response = ok(admin.post(f"/{LEGACY}/_bulk", params={"refresh": "true"}, content="\n".join(lines) + "\n",
                                     headers={"Content-Type": "application/x-ndjson"}))
            assert response["errors"] is False, response
            answer = admin.post("/ai-logs-*/_search", json=window)
            assert answer.status_code == 200, answer.text
            assert answer.json()["_shards"]["failed"] == 1, answer.text
            assert answer.json()["hits"]["total"]["value"] == 5, answer.text  # only the shard that answered

            expected = (f"POST {stack.opensearch_url()}/ai-logs-*/_search answered with partial results, so the "
                        f"count is not judged: 1 of 2 shards failed: {LEGACY}[0]: query_shard_exception: failed to "
                        'create query: For input string: "now-900s" — the query failed on some shards of ai-logs-*')
            for check in counting:
                outcome = run(check, stack)
                assert outcome.status == "broken", outcome
                assert outcome.message.startswith(expected), outcome
                assert outcome.message.endswith("see docs/runbooks/opensearch.md#partial-results"), outcome
        finally:
            delete_index(admin, LEGACY)

        for check in counting:
            assert run(check, stack).status == "passed"


def test_a_search_that_outlasts_its_timeout_is_could_not_check(stack: Stack, admin: httpx.Client) -> None:
    """The client bounds every search to 80% of the read timeout: a slow error query (a script over 20,000 recent
    documents, many times that long on the stack's node even on a quiet machine) stops there and the node answers
    HTTP 200 with ``timed_out`` and the count so far, before the read timeout. The documents are spread over 40
    segments, since the node looks at the clock between batches of documents, and a batch never spans two
    segments."""
    settings = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": -1,
                "merge.policy.segments_per_tier": 100, "merge.policy.max_merge_at_once": 100}
    ok(admin.put(f"/{SLOW}", json={"settings": settings, "mappings": {"properties": {"@timestamp": {"type": "date"}}}}))
    try:
        for batch in range(40):
            lines = []
            for n in range(500):
                lines += ['{"index": {}}', json.dumps(stamped(timedelta(milliseconds=10 * (batch * 500 + n))))]
            response = ok(admin.post(f"/{SLOW}/_bulk", params={"refresh": "true"}, content="\n".join(lines) + "\n",
                                     headers={"Content-Type": "application/x-ndjson"}))
            assert response["errors"] is False, response
        slow = {"script": {"script": {"source": "int n = 0; for (int i = 0; i < params.k; i++) { n += i; } "
                                                "return n != 1;", "params": {"k": 240_000}}}}
        target = make_target("opensearch", {"url": stack.opensearch_url(), "logs": {"error_query": slow}},
                             timeouts=Timeouts(connect=2, read=12))
        try:
            started = time.monotonic()
            outcome = run_check(checks.test_error_logs, target)
            elapsed = time.monotonic() - started
        finally:
            target.close()
        assert outcome.status == "broken", outcome
        assert outcome.message.startswith(
            f"POST {stack.opensearch_url()}/ai-logs-*/_search answered with partial results, so the count is not "
            "judged: the search timed out after "), outcome
        assert " ms — the cluster did not finish the search within its timeout (9600ms): is it overloaded" \
            in outcome.message, outcome
        assert elapsed >= 9.6, elapsed  # the node searched until its timeout, and the client waited
    finally:
        delete_index(admin, SLOW)


# ----------------------------------------------------------------------------------------------- snapshots


def test_snapshot_age_judges_the_newest_successful_snapshot(stack: Stack, admin: httpx.Client) -> None:
    assert run(checks.test_snapshot_age, stack).status == "skipped"
    missing = run(checks.test_snapshot_age, stack, snapshots={})
    assert missing.status == "failed", missing
    assert missing.message.startswith("opensearch:test: snapshot repository 'backup_repo' is not registered"), \
        missing

    location = f"/usr/share/opensearch/snapshots/{REPO}"
    ok(admin.put(f"/_snapshot/{REPO}", json={"type": "fs", "settings": {"location": location}}))
    try:
        empty = run(checks.test_snapshot_age, stack, snapshots={"repository": REPO})
        assert empty.status == "failed", empty
        assert empty.message == f"opensearch:test: no successful snapshot in repository '{REPO}' (0 snapshot(s))"

        with index(admin, SNAPSHOT_SOURCE):
            ok(admin.put(f"/_snapshot/{REPO}/nightly-1", params={"wait_for_completion": "true"},
                         json={"indices": SNAPSHOT_SOURCE, "include_global_state": False}))
        fresh = run(checks.test_snapshot_age, stack, snapshots={"repository": REPO})
        assert fresh.status == "passed", fresh

        time.sleep(0.1)
        stale = run(checks.test_snapshot_age, stack, snapshots={"repository": REPO, "max_age": "1ms"})
        assert stale.status == "failed", stale
        assert stale.message.startswith("opensearch:test: last_snapshot_age_s ("), stale
        assert f"s) <= 0.001 s — newest successful snapshot 'nightly-1' in '{REPO}' is " in stale.message
    finally:
        admin.delete(f"/_snapshot/{REPO}/nightly-1")
        ok(admin.delete(f"/_snapshot/{REPO}"))


# --------------------------------------------------------------------------------------------- unreachable


def test_stopped_node_is_unreachable_once_then_other_checks_fail_fast(stack: Stack) -> None:
    target = make_target("opensearch", {"url": stack.opensearch_url()}, timeouts=Timeouts(connect=2, read=8))
    try:
        assert run_check(checks.test_cluster_health, target).status == "passed"
        target.close()
        stack.stop_component("opensearch")
        try:
            attempts = target.connect_attempts
            started = time.monotonic()
            outcome = run_check(checks.test_cluster_health, target)
            assert outcome.status == "broken", outcome
            assert outcome.message.startswith(f"GET {stack.opensearch_url()}/_cluster/health failed: ConnectError"), \
                outcome
            assert "is the OpenSearch node up, and the URL's host and port right?" in outcome.message
            assert target.is_down
            after = target.connect_attempts
            assert after == attempts + 1
            second = run_check(checks.test_disk_watermarks, target)
            assert second.status == "broken", second
            assert "was found unreachable earlier in this run" in second.message
            assert target.connect_attempts == after
            assert time.monotonic() - started < 5
        finally:
            stack.start_component("opensearch")
    finally:
        target.close()
    assert run(checks.test_cluster_health, stack).status == "passed"
