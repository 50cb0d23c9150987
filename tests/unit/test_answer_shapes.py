"""Every parser of a JSON API answer, fed answers of the wrong shape: each says *could not check*
(``BadResponse``) naming where and showing at most 200 characters of what came back, never a Python exception
and never a default read into a verdict."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from healthgate.errors import BadResponse
from healthgate.targets.alertmanager.facts import parse_alerts, parse_silences
from healthgate.targets.opensearch import facts as os_facts
from healthgate.targets.prometheus.facts import parse_query, parse_rules, parse_targets

NAN = float("nan")
# Wrong at the top: a list where an object is expected (or the reverse), null, a string, numbers.
ANYWHERE: list[Any] = [None, "ok", 3, NAN, True]
OBJECT_WANTED: list[Any] = [*ANYWHERE, [], [{"a": 1}]]
LIST_WANTED: list[Any] = [*ANYWHERE, {}, {"a": [1]}]


def _ok(**overrides: Any) -> dict[str, Any]:
    return {"status": "green", "number_of_nodes": 1, "active_shards": 3, "unassigned_shards": 0, **overrides}


def _hits(**overrides: Any) -> dict[str, Any]:
    return {"hits": {"total": {"value": 1}, "hits": [{"_index": "i", "_source": {"a": 1}}], **overrides}}


def _prom(data: Any) -> dict[str, Any]:
    return {"status": "success", "data": data}


def _alert(**status: Any) -> dict[str, Any]:
    return {"labels": {"alertname": "A"}, "status": {"state": "active", **status}}


PARSERS: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
    "opensearch health": (os_facts.parse_health, [
        *OBJECT_WANTED, {"status": "green"}, _ok(status=None), _ok(number_of_nodes="1"), _ok(active_shards=NAN),
        _ok(unassigned_shards=[]), _ok(relocating_shards=1.5), _ok(initializing_shards=True)]),
    "opensearch index names": (os_facts.index_names, [*LIST_WANTED, [1], [{"index": 1}], [{"index": None}]]),
    "opensearch shards": (os_facts.parse_shards, [*LIST_WANTED, ["x"], [{"index": "i", "state": ["UNASSIGNED"]}]]),
    "opensearch disk settings": (os_facts.disk_settings, [
        *OBJECT_WANTED, {"persistent": []}, {"defaults": "x"},
        {"transient": {"cluster.routing.allocation.disk.watermark.low": {"x": 1}}},
        {"defaults": {"cluster.routing.allocation.disk.threshold_enabled": ["true"]}}]),
    "opensearch node disks": (os_facts.node_disks, [
        *OBJECT_WANTED, {"nodes": []}, {"nodes": {"n1": []}}, {"nodes": {"n1": {"fs": []}}},
        {"nodes": {"n1": {"fs": {"total": {"total_in_bytes": "100"}}}}},
        {"nodes": {"n1": {"fs": {"total": {"total_in_bytes": NAN}}}}},
        {"nodes": {"n1": {"fs": {"total": {"total_in_bytes": 100, "available_in_bytes": None}}}}}]),
    "opensearch search": (lambda data: os_facts.parse_hits(data, "logs-*", {}), [
        *OBJECT_WANTED, {}, {"hits": []}, _hits(total="many"), _hits(total={"value": "1"}), _hits(total=None),
        _hits(hits={"_id": 1}), _hits(hits=[1]), _hits(hits=[{"_source": ["a"]}]),
        {**_hits(), "timed_out": "false"}, {**_hits(), "timed_out": None}, {**_hits(), "_shards": []},
        {**_hits(), "_shards": {"failed": "0"}}, {**_hits(), "_shards": {"failed": NAN}},
        {**_hits(), "_shards": {"failed": 1, "total": "5"}}, {**_hits(), "_clusters": {"skipped": "1"}}]),
    "opensearch snapshots": (os_facts.parse_snapshots, [
        *OBJECT_WANTED, {"snapshots": {}}, {"snapshots": [1]}, {"snapshots": [{"snapshot": "s"}]},
        {"snapshots": [{"snapshot": "s", "state": "SUCCESS", "end_time_in_millis": "12"}]},
        {"snapshots": [{"snapshot": "s", "state": "SUCCESS", "end_time_in_millis": NAN}]}]),
    "alertmanager alerts": (parse_alerts, [
        *LIST_WANTED, [1], [{"labels": []}], [{"labels": {"alertname": "A"}}], [{"labels": {"a": 1}, "status": {}}],
        [{**_alert(), "annotations": ["disk", "full"]}], [{**_alert(), "annotations": {"summary": None}}],
        [_alert(silencedBy="abc")], [_alert(inhibitedBy=[1])], [{"labels": {"alertname": "A"}, "status": []}]]),
    "alertmanager silences": (parse_silences, [
        *LIST_WANTED, [1], [{"id": 1}], [{"status": {}}], [{"id": "a", "matchers": {}}],
        [{"id": "a", "matchers": ["x"]}], [{"id": "a", "status": []}]]),
    "prometheus query": (lambda data: parse_query(data, query="up"), [
        *OBJECT_WANTED, {"status": "success"}, {"status": ["success"], "data": {}}, _prom([]),
        _prom({"resultType": "vector", "result": {"metric": 1}}),
        _prom({"resultType": "vector", "result": [1]}),
        _prom({"resultType": "vector", "result": [{"metric": [], "value": [1, "1"]}]}),
        _prom({"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]}),
        _prom({"resultType": "vector", "result": [{"metric": {}, "value": "12"}]}),
        _prom({"resultType": "vector", "result": [{"metric": {}, "value": [1, "twelve"]}]}),
        _prom({"resultType": "vector", "result": [{"metric": {}, "value": [1, None]}]}),
        _prom({"resultType": "scalar", "result": {"1": 2}}),
        _prom({"resultType": ["vector"], "result": []})]),
    "prometheus targets": (parse_targets, [
        *OBJECT_WANTED, _prom([]), _prom({"activeTargets": {}}), _prom({"activeTargets": [1]}),
        _prom({"activeTargets": [{"labels": []}]}), _prom({"activeTargets": [{"labels": {"job": 1}}]}),
        _prom({"activeTargets": [{"labels": {}, "health": ["up"]}]})]),
    "prometheus rules": (parse_rules, [
        *OBJECT_WANTED, _prom({"groups": {}}), _prom({"groups": [1]}), _prom({"groups": [{"rules": {}}]}),
        _prom({"groups": [{"rules": [1]}]}), _prom({"groups": [{"rules": [{"name": None}]}]})]),
}
CASES = [(name, n, payload) for name, (_, payloads) in PARSERS.items() for n, payload in enumerate(payloads)]


@pytest.mark.parametrize(("parser", "number", "payload"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_wrong_shapes_are_bad_responses(parser: str, number: int, payload: Any) -> None:
    with pytest.raises(BadResponse) as raised:
        PARSERS[parser][0](payload)
    message = str(raised.value)
    assert "Error" not in message.split(" — ")[0], message


@pytest.mark.parametrize("parser", list(PARSERS))
def test_what_came_back_is_shown_cut_at_200_characters(parser: str) -> None:
    huge = "x" * 10_000
    with pytest.raises(BadResponse) as raised:
        PARSERS[parser][0]([huge] if parser.startswith(("opensearch", "prometheus")) else {"a": huge})
    shown = raised.value.what
    assert "xxxx" in shown
    assert len(shown) < 300, shown


def test_secrets_in_what_came_back_are_masked() -> None:
    with pytest.raises(BadResponse) as raised:
        os_facts.parse_health({"status": "green", "note": "https://user:hunter2pass@proxy.internal/"})
    assert "hunter2pass" not in str(raised.value)


@pytest.mark.parametrize(("parse", "payload", "expected"), [
    (os_facts.parse_snapshots, {}, []),  # filter_path drops an empty list: no snapshot yet
    (os_facts.node_disks, {"nodes": {"n1": {"name": "n1"}}}, []),  # a node reporting no file system is skipped
    (os_facts.index_names, [], []),
    (lambda d: os_facts.parse_hits(d, "i", {}).total, {"hits": {"total": 7, "hits": []}}, 7),  # OpenSearch 1.x
    (lambda d: parse_query(d).samples[0].value, _prom({"resultType": "scalar", "result": [1, "+Inf"]}),
     float("inf")),
])
def test_shapes_the_apis_document_still_parse(parse: Callable[[Any], Any], payload: Any, expected: Any) -> None:
    assert parse(payload) == expected
