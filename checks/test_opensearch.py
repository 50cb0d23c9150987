"""OpenSearch: cluster health, unassigned shards, disk watermarks, logs arriving, error and security events in
the logs, snapshot freshness (the AI monitoring runbook's OpenSearch commands, as checks).

Privileges of a read-only monitoring role: cluster permission ``cluster_monitor``; index permission ``read`` on the
logs pattern; ``cluster:admin/repository/get`` and ``cluster:admin/snapshot/get`` for the snapshot check.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, POST, PRE, RECOVERY, check
from healthgate.expect import evidence, expect, fail, note
from healthgate.targets.opensearch.facts import NotFound, newest_successful, trim_doc, window_query
from healthgate.units import format_duration, format_size

if TYPE_CHECKING:
    from healthgate.targets.opensearch import OpenSearchTarget


@check(phases=ALL, severity="critical", runbook="cluster-health")
def test_cluster_health(opensearch: OpenSearchTarget):
    """The cluster is green, or yellow when allow_yellow is set (then with a note); red fails
    (needs cluster_monitor)."""
    health = opensearch.client.health()
    evidence("GET _cluster/health", json.dumps(health.raw, indent=1))
    if health.status == "green":
        return
    if health.status == "yellow" and opensearch.settings.allow_yellow:
        note(f"cluster is yellow: {health.unassigned_shards} replica shard(s) unassigned (allow_yellow is set)")
        return
    indices = opensearch.client.indices_with_health(health.status) if health.status in ("red", "yellow") else []
    named = f" ({', '.join(indices)})" if indices else ""
    if health.status == "red":
        hint = (f"primary shards are unassigned, so data of the red indices{named} cannot be read or written: "
                "GET _cluster/allocation/explain tells why")
    else:
        hint = (f"{health.unassigned_shards} replica shard(s) unassigned{named}: a node is missing or indices ask "
                "for more replicas than there are nodes; set allow_yellow for a single-node cluster")
    expect(opensearch, "status", health.status, "==", "green", hint=hint)


@check(phases=(PRE, DAILY), severity="warning", runbook="unassigned-shards")
def test_unassigned_shards(opensearch: OpenSearchTarget):
    """No shard is unassigned; with allow_yellow, only replica shards may be (needs cluster_monitor)."""
    health = opensearch.client.health()
    if health.unassigned_shards == 0:
        evidence("GET _cluster/health", f"unassigned_shards: 0 of {health.active_shards} active")
        return
    shards = opensearch.client.unassigned_shards()
    primaries = [s for s in shards if s.primary]
    listing = "\n".join(s.describe() for s in shards)
    evidence("GET _cat/shards (unassigned)", listing or "none by now")
    shown = ", ".join(s.describe() for s in (primaries or shards)[:5])
    more = f" and {len(primaries or shards) - 5} more" if len(primaries or shards) > 5 else ""
    hint = f"{shown}{more}: GET _cluster/allocation/explain tells why"
    if opensearch.settings.allow_yellow:
        if shards and not primaries:
            note(f"{len(shards)} replica shard(s) unassigned (allow_yellow is set)")
        expect(opensearch, "unassigned_primary_shards", len(primaries), "==", 0, hint=hint)
    else:
        expect(opensearch, "unassigned_shards", len(shards), "==", 0, hint=hint)


@check(phases=(DAILY,), severity="critical", runbook="disk-watermarks")
def test_disk_watermarks(opensearch: OpenSearchTarget):
    """Every node's disk use stays at or below the cluster's high watermark; above the low one the check passes
    with a note (watermarks read from _cluster/settings; needs cluster_monitor)."""
    disk = opensearch.client.disk_settings()
    nodes = opensearch.client.node_disks()
    marks = (disk.low, disk.high, disk.flood_stage)
    evidence("watermarks", "\n".join(f"{m.setting}: {m.raw}" for m in marks)
             + f"\ncluster.routing.allocation.disk.threshold_enabled: {str(disk.threshold_enabled).lower()}")
    evidence("node disks", "\n".join(
        f"{n.name}: {n.used_pct:.1f}% used, {format_size(n.available_bytes)} available of {format_size(n.total_bytes)}"
        for n in nodes))
    if not disk.threshold_enabled:
        note("cluster.routing.allocation.disk.threshold_enabled is false: the cluster ignores its watermarks "
             "(judged against them anyway)")
    elif disk.single_data_node_enforced is False and len(nodes) == 1:
        note("watermark.enable_for_single_data_node is false: this single-node cluster ignores its watermarks "
             "(judged against them anyway)")
    over_high = []
    for node in nodes:
        low, high = disk.low.used_pct_on(node.total_bytes), disk.high.used_pct_on(node.total_bytes)
        if node.used_pct > high:
            over_high.append((node, high))
        elif node.used_pct > low:
            note(f"{node.name}: disk {node.used_pct:.1f}% used, above the low watermark ({disk.low.raw}): "
                 "no new shards are allocated to this node")
    if over_high:
        node, high = max(over_high, key=lambda pair: pair[0].used_pct - pair[1])
        others = [n.name for n, _ in over_high if n is not node]
        expect(opensearch, f"disk_used_pct[{node.name}]", round(node.used_pct, 1), "<=", round(high, 1), unit="%",
               hint=f"above the high watermark ({disk.high.raw}) shards move off the node; at the flood stage "
                    f"({disk.flood_stage.raw}) its indices become read-only"
                    + (f"; also above: {', '.join(others)}" if others else "")
                    + ": delete old log indices or add disk")


@check(phases=(POST, RECOVERY, DAILY), severity="critical", runbook="logs-arriving",
       applies=lambda s: s.logs is not None)
def test_logs_arriving(opensearch: OpenSearchTarget):
    """At least min_docs documents (default 1) stamped within the last window (default 15m) are in the logs index
    pattern (default ai-logs-*) (needs read on the pattern); an answer with partial results (timed out, failed
    shards) is *could not check*."""
    logs = _logs(opensearch)
    try:
        counted = opensearch.client.count(logs.index, window_query(logs.timestamp_field, logs.window))
    except NotFound:
        fail(opensearch, f"no index matches {logs.index}: no log has ever been shipped there — is the log "
                         "shipper (Fluent Bit) running and writing to this cluster?")
    evidence("query", f"POST {logs.index}/_search\n{json.dumps(counted.body, indent=1)}")
    window = format_duration(logs.window)
    hint = f"no log stamped in the last {window}"
    if counted.count < logs.min_docs:
        newest = opensearch.client.newest_timestamp(logs.index, logs.timestamp_field)
        hint += (f"; newest {logs.timestamp_field} in {logs.index}: {newest}" if newest
                 else f"; no document of {logs.index} has a {logs.timestamp_field}")
        hint += ": is the log shipper (Fluent Bit) running and the application logging?"
    expect(opensearch, f"log_docs_last_{window}", counted.count, ">=", logs.min_docs, hint=hint)


@check(phases=(DAILY,), severity="warning", runbook="error-logs",
       applies=lambda s: s.logs is not None)
def test_error_logs(opensearch: OpenSearchTarget):
    """Error entries (error_query, default level:error) within the last window stay at or below max_errors
    (default 50) (needs read on the pattern); an answer with partial results (timed out, failed shards) is *could
    not check*."""
    logs = _logs(opensearch)
    window = format_duration(logs.window)
    hits = _search_window(opensearch, logs, logs.error_query)
    expect(opensearch, f"error_logs_last_{window}", hits.total, "<=", logs.max_errors,
           hint=f"the application logs errors faster than usual: read the samples attached, then "
                f"GET {logs.index}/_search?q=level:error")


@check(phases=(DAILY,), severity="critical", runbook="security-threats",
       applies=lambda s: s.logs is not None)
def test_security_threats(opensearch: OpenSearchTarget):
    """Security threat events (event_type: security_threat, e.g. prompt injection) within the last window stay at
    or below max_threats (default 0) (needs read on the pattern); an answer with partial results (timed out,
    failed shards) is *could not check*."""
    logs = _logs(opensearch)
    window = format_duration(logs.window)
    hits = _search_window(opensearch, logs, {"match": {logs.threat_field: logs.threat_value}})
    expect(opensearch, f"security_threats_last_{window}", hits.total, "<=", logs.max_threats,
           hint=f"{logs.threat_field}={logs.threat_value} events were logged: identify the source IPs in the "
                "samples, consider blocking them and aggressive rate limiting")


@check(phases=(DAILY,), severity="critical", runbook="snapshot-age", applies=lambda s: s.snapshots is not None)
def test_snapshot_age(opensearch: OpenSearchTarget):
    """The newest SUCCESS snapshot of the repository (default backup_repo) ended less than max_age ago (default
    26h) (needs cluster:admin/repository/get and cluster:admin/snapshot/get)."""
    spec = opensearch.settings.snapshots
    if spec is None:
        pytest.skip("no snapshots configured for this target")
    try:
        snapshots = opensearch.client.snapshots(spec.repository)
    except NotFound as exc:
        fail(opensearch, f"snapshot repository {spec.repository!r} is not registered ({exc.reason}): no backup "
                         f"is being taken there — PUT _snapshot/{spec.repository} then schedule snapshots")
    newest = newest_successful(snapshots)
    listing = "\n".join(f"{s.name}: {s.state} end_time_in_millis={s.end_time_ms}" for s in snapshots[-20:])
    evidence(f"GET _snapshot/{spec.repository}/_all", listing or "no snapshot")
    if newest is None or newest.end_time_ms is None:
        states = sorted({s.state for s in snapshots})
        fail(opensearch, f"no successful snapshot in repository {spec.repository!r} ({len(snapshots)} snapshot(s)"
                         + (f", states {', '.join(states)}" if states else "") + ")")
    age = max(0.0, time.time() - newest.end_time_ms / 1000.0)
    expect(opensearch, "last_snapshot_age_s", round(age, 3), "<=", spec.max_age, unit="s",
           hint=f"newest successful snapshot {newest.name!r} in {spec.repository!r} is {format_duration(age)} old "
                f"(max {format_duration(spec.max_age)}): is the snapshot schedule running?")


def _logs(opensearch):
    logs = opensearch.settings.logs
    if logs is None:
        pytest.skip("logs: null for this target (no log index to inspect)")
    return logs


def _search_window(opensearch, logs, query):
    """Hits of ``query`` within the logs window, newest first; evidence = the query and up to 5 samples."""
    body = window_query(logs.timestamp_field, logs.window, query)
    try:
        hits = opensearch.client.search(logs.index, body, sort_field=logs.timestamp_field)
    except NotFound:
        pytest.skip(f"no index matches {logs.index}: nothing to count (logs-arriving reports it)")
    evidence("query", f"POST {logs.index}/_search\n{json.dumps(hits.body, indent=1)}")
    evidence(f"samples ({len(hits.docs)} newest of {hits.total})",
             "\n".join(trim_doc(doc) for doc in hits.docs) or "none")
    return hits
