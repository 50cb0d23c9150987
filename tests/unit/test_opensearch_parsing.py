"""Pure logic of the OpenSearch target: watermarks, effective settings, node disks, queries, partial answers,
snapshots."""

from __future__ import annotations

import pytest

from healthgate.errors import BadResponse
from healthgate.targets.opensearch.facts import (
    NodeDisk,
    Snapshot,
    Watermark,
    disk_settings,
    error_of,
    newest_successful,
    node_disks,
    parse_hits,
    parse_watermark,
    partial,
    trim_doc,
    window_query,
)
from healthgate.targets.opensearch.settings import base_url

GIB = 1024**3


@pytest.mark.parametrize(("raw", "used_pct", "free_bytes"), [
    ("85%", 85.0, None),
    ("99.5%", 99.5, None),
    ("0.9", 90.0, None),
    ("1", 100.0, None),
    ("500mb", None, 500 * 1024**2),
    ("10gb", None, 10 * GIB),
    ("1.5GB", None, int(1.5 * GIB)),
    ("100b", None, 100),
])
def test_watermark_forms_opensearch_accepts(raw: str, used_pct: float | None, free_bytes: int | None) -> None:
    mark = parse_watermark("w", raw)
    assert (mark.used_pct, mark.free_bytes) == (used_pct, free_bytes)


@pytest.mark.parametrize("raw", ["1.5", "lots", "85 percent", "-1"])
def test_watermark_garbage_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="w="):
        parse_watermark("w", raw)


def test_free_space_watermark_becomes_a_used_share_of_each_disk() -> None:
    mark = Watermark("high", "10gb", free_bytes=10 * GIB)
    assert mark.used_pct_on(100 * GIB) == 90.0
    assert mark.used_pct_on(5 * GIB) == 0.0
    assert Watermark("high", "90%", used_pct=90.0).used_pct_on(1) == 90.0


def test_transient_beats_persistent_beats_defaults() -> None:
    prefix = "cluster.routing.allocation.disk."
    answer = {
        "persistent": {f"{prefix}watermark.high": "80%", f"{prefix}watermark.low": "70%"},
        "transient": {f"{prefix}watermark.high": "2%"},
        "defaults": {f"{prefix}watermark.low": "85%", f"{prefix}watermark.high": "90%",
                     f"{prefix}watermark.flood_stage": "95%", f"{prefix}threshold_enabled": "false",
                     f"{prefix}watermark.enable_for_single_data_node": "false"},
    }
    disk = disk_settings(answer)
    assert (disk.low.raw, disk.high.raw, disk.flood_stage.raw) == ("70%", "2%", "95%")
    assert disk.threshold_enabled is False
    assert disk.single_data_node_enforced is False


def test_missing_watermarks_fall_back_to_opensearch_defaults() -> None:
    disk = disk_settings({})
    assert (disk.low.used_pct, disk.high.used_pct, disk.flood_stage.used_pct) == (85.0, 90.0, 95.0)
    assert disk.threshold_enabled is True
    assert disk.single_data_node_enforced is None


def test_node_disk_use_counts_space_not_available_to_the_node_as_used() -> None:
    stats = {"nodes": {
        "b": {"name": "node-b", "fs": {"total": {"total_in_bytes": 100, "free_in_bytes": 50,
                                                 "available_in_bytes": 30}}},
        "a": {"name": "node-a", "fs": {"total": {"total_in_bytes": 200, "available_in_bytes": 200}}},
        "c": {"name": "coordinating-only"},
    }}
    assert node_disks(stats) == [NodeDisk("node-a", 200, 200), NodeDisk("node-b", 100, 30)]
    assert [n.used_pct for n in node_disks(stats)] == [0.0, 70.0]


def test_window_query_filters_on_the_cluster_clock_and_ands_extra_queries() -> None:
    assert window_query("@timestamp", 900) == {
        "query": {"bool": {"filter": [{"range": {"@timestamp": {"gte": "now-900s"}}}]}}}
    assert window_query("ts", 0.2, {"term": {"level": "error"}}) == {"query": {"bool": {
        "filter": [{"range": {"ts": {"gte": "now-1s"}}}], "must": [{"term": {"level": "error"}}]}}}


def test_newest_successful_snapshot_ignores_failed_and_running_ones() -> None:
    snaps = [Snapshot("a", "SUCCESS", 1_000), Snapshot("b", "FAILED", 9_000), Snapshot("c", "SUCCESS", 5_000),
             Snapshot("d", "IN_PROGRESS", None), Snapshot("e", "PARTIAL", 8_000)]
    assert newest_successful(snaps) == Snapshot("c", "SUCCESS", 5_000)
    assert newest_successful([Snapshot("b", "FAILED", 9_000)]) is None
    assert newest_successful([]) is None


def test_error_of_prefers_the_root_cause() -> None:
    answer = {"error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [x]"}],
                        "type": "index_not_found_exception", "reason": "outer"}, "status": 404}
    assert error_of(answer) == ("index_not_found_exception", "no such index [x]")
    assert error_of({"error": {"root_cause": [], "type": "search_phase_execution_exception",
                               "reason": "all shards failed"}}) == ("search_phase_execution_exception",
                                                                    "all shards failed")
    assert error_of({"error": "plain text"}) == ("", "plain text")
    assert error_of("garbage") == ("", "garbage")


def test_sample_docs_are_one_bounded_line() -> None:
    hit = {"_index": "ai-logs-1", "_id": "x", "_source": {"message": "a" * 5000, "level": "error"}}
    line = trim_doc(hit, limit=100)
    assert len(line) == 101 and line.endswith("…") and "\n" not in line
    assert line.startswith('{"_index": "ai-logs-1", "_id": "x", "message": "aaa')


def test_base_url_drops_credentials_and_trailing_slash() -> None:
    assert base_url("https://mon:s3cret@logs.internal:9200/") == "https://logs.internal:9200"
    assert base_url("http://[::1]:9200/prefix/") == "http://[::1]:9200/prefix"


# Answers of a real OpenSearch 2.19.6 node (the stack's image) to the size-0 searches the client sends, captured
# with two indices matching ai-logs-*: one mapping @timestamp as date, one (ai-logs-bad) as long, where the range
# query of the window fails; and a script query over 50,000 documents with a 1ms timeout.
COMPLETE = {"took": 7, "timed_out": False, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": None, "hits": []}}
SHARD_FAILED = {
    "took": 58, "timed_out": False,
    "_shards": {"total": 3, "successful": 2, "skipped": 0, "failed": 1, "failures": [{
        "shard": 0, "index": "ai-logs-bad", "node": "mzJLYltXSieSUUu8GTd_5g",
        "reason": {"type": "query_shard_exception", "reason": 'failed to create query: For input string: "now-900s"',
                   "index": "ai-logs-bad", "index_uuid": "CTgvHqYgSD2fstO62qid5A",
                   "caused_by": {"type": "number_format_exception", "reason": 'For input string: "now-900s"'}}}]},
    "hits": {"total": {"value": 1, "relation": "eq"}, "max_score": None, "hits": []}}
TIMED_OUT = {"took": 60, "timed_out": True, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
             "hits": {"total": {"value": 593, "relation": "eq"}, "max_score": None, "hits": []}}
WHERE = "POST http://os:9200/ai-logs-*/_search"


def test_a_complete_answer_is_counted() -> None:
    assert parse_hits(COMPLETE, "ai-logs-*", {}, WHERE).total == 1
    assert partial(COMPLETE) == {}


def test_failed_shards_are_could_not_check_naming_the_first_failure() -> None:
    with pytest.raises(BadResponse) as raised:
        parse_hits(SHARD_FAILED, "ai-logs-*", {"timeout": "8000ms"}, WHERE)
    assert raised.value.what == (
        f"{WHERE} answered with partial results, so the count is not judged: 1 of 3 shards failed: ai-logs-bad[0]: "
        'query_shard_exception: failed to create query: For input string: "now-900s"')
    assert raised.value.hint.startswith("the query failed on some shards of ai-logs-*: a field it uses mapped with "
                                        "another type in one index (GET ai-logs-*/_mapping/field/<field>)")
    assert raised.value.hint.endswith("see docs/runbooks/opensearch.md#partial-results")


def test_a_timed_out_search_is_could_not_check_with_its_duration() -> None:
    with pytest.raises(BadResponse) as raised:
        parse_hits(TIMED_OUT, "ai-logs-*", {"timeout": "8000ms"}, WHERE)
    assert raised.value.what == (f"{WHERE} answered with partial results, so the count is not judged: the search "
                                 "timed out after 60 ms")
    assert raised.value.hint.startswith("the cluster did not finish the search within its timeout (8000ms): is it "
                                        "overloaded (GET _nodes/hot_threads")


def test_every_partiality_is_named_and_totals_are_optional() -> None:
    answer = {**TIMED_OUT, "_shards": {"failed": 2}, "_clusters": {"total": 3, "successful": 2, "skipped": 1}}
    assert partial(answer) == {"timed_out": "the search timed out after 60 ms", "shards": "2 shard(s) failed",
                               "clusters": "1 of 3 clusters skipped"}
    assert partial({"timed_out": True, "hits": {}}) == {"timed_out": "the search timed out"}


def test_the_failure_reason_is_redacted_before_it_is_cut_to_200_characters() -> None:
    secret_url = "https://mon:hunter2pass@proxy.internal/"
    failures = [{"shard": 4, "index": "ai-logs-x", "reason": {"type": "x_exception",
                                                               "reason": "x" * 150 + " " + secret_url + "y" * 500}}]
    answer = {**COMPLETE, "_shards": {"total": 5, "failed": 2, "failures": failures}}
    shards = partial(answer)["shards"]
    assert shards.startswith("2 of 5 shards failed: ai-logs-x[4]: x_exception: xxx")
    assert "hunter2" not in shards and "hunt" not in shards
    assert len(shards.split(": ", 1)[1]) == 200 and shards.endswith("…")
    assert partial({**COMPLETE, "_shards": {"failed": 1, "failures": ["plain"]}})["shards"] == \
        '1 shard(s) failed: "plain"'


def test_a_total_that_is_only_a_lower_bound_is_not_a_count() -> None:
    answer = {**COMPLETE, "hits": {"total": {"value": 10000, "relation": "gte"}, "hits": []}}
    with pytest.raises(BadResponse, match="hits.total is a lower bound"):
        parse_hits(answer, "ai-logs-*", {}, WHERE)
