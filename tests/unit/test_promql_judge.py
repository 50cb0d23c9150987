"""PromQL expectations judged from recorded ``/api/v1/query`` answers (Prometheus 2.42), without a server."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from healthgate.errors import BadResponse
from healthgate.targets.prometheus.facts import (
    QueryResult,
    Sample,
    format_labels,
    holds,
    judge,
    parse_query,
    promql_duration,
)
from healthgate.targets.prometheus.settings import Expectation, Settings

QUALITY = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "ai_response_quality_score", "instance": "refapp:8000", "job": "refapp"},
     "value": [1795587411.750, "0.92"]}]}}
UP = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "up", "instance": "alertmanager:9093", "job": "alertmanager"}, "value": [1.0, "1"]},
    {"metric": {"__name__": "up", "instance": "localhost:9090", "job": "prometheus"}, "value": [1.0, "1"]},
    {"metric": {"__name__": "up", "instance": "refapp:8000", "job": "refapp"}, "value": [1.0, "0"]}]}}
SUM = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "2"]}]}}
SCALAR = {"status": "success", "data": {"resultType": "scalar", "result": [1795587411.757, "3"]}}
SCALAR_NAN = {"status": "success", "data": {"resultType": "scalar", "result": [1795587106.209, "NaN"]}}
EMPTY = {"status": "success", "data": {"resultType": "vector", "result": []}}
MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"__name__": "up", "job": "refapp"}, "values": [[1795587408.154, "1"], [1795587410.154, "1"]]}]}}
STRING = {"status": "success", "data": {"resultType": "string", "result": [1795587106.252, "x"]}}
INF = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {"a": "b"}, "value": [1, "+Inf"]}]}}


def expectation(op: str = ">=", threshold: float = 0.6, **extra) -> Expectation:
    return Expectation(name="e", query="q", op=op, threshold=threshold, **extra)


@pytest.mark.parametrize(("payload", "kind", "values"), [
    (QUALITY, "vector", [0.92]),
    (UP, "vector", [1.0, 1.0, 0.0]),
    (SCALAR, "scalar", [3.0]),
    (EMPTY, "vector", []),
    (MATRIX, "matrix", []),
    (STRING, "string", []),
    (INF, "vector", [math.inf]),
])
def test_parse_query(payload, kind, values):
    result = parse_query(payload)
    assert (result.result_type, [s.value for s in result.samples]) == (kind, values)


def test_parse_keeps_labels_and_reads_nan():
    assert parse_query(QUALITY).samples[0].labels == {
        "__name__": "ai_response_quality_score", "instance": "refapp:8000", "job": "refapp"}
    assert math.isnan(parse_query(SCALAR_NAN).samples[0].value)


@pytest.mark.parametrize(("payload", "message"), [
    ({"status": "error", "errorType": "bad_data", "error": "parse error"}, "query 'q': bad_data: parse error"),
    ({"status": "success", "data": {"resultType": "vector", "result": {}}}, "vector result is not a list"),
    ({"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1]}]}},
     "is not [timestamp, \"value\"]"),
    ({"status": "success", "data": {"resultType": "histogram", "result": []}}, "unknown result type 'histogram'"),
    ([1, 2], "not a Prometheus API response"),
])
def test_parse_rejects_malformed_answers(payload, message):
    with pytest.raises(BadResponse) as raised:
        parse_query(payload, query="q")
    assert message in str(raised.value)


@pytest.mark.parametrize(("value", "op", "threshold", "expected"), [
    (0.92, ">=", 0.6, True),
    (0.6, ">=", 0.6, True),
    (0.3, ">=", 0.6, False),
    (0.3, ">", 0.3, False),
    (0.3, "<", 0.6, True),
    (0.6, "<=", 0.6, True),
    (1.0, "==", 1.0, True),
    (0.0, "==", 1.0, False),
    (0.0, "!=", 1.0, True),
    (math.nan, "!=", 0.0, False),
    (math.nan, "<", math.inf, False),
    (math.nan, "==", math.nan, False),
    (math.inf, ">", 1e300, True),
    (-math.inf, "<", 0.0, True),
])
def test_holds(value, op, threshold, expected):
    assert holds(value, op, threshold) is expected


@pytest.mark.parametrize(("payload", "exp", "status", "rendered"), [
    (QUALITY, expectation(), "passed",
     'e: q (0.92 ai_response_quality_score{instance="refapp:8000", job="refapp"}) >= 0.6'),
    (QUALITY, expectation(threshold=0.95), "failed",
     'e: q (0.92 ai_response_quality_score{instance="refapp:8000", job="refapp"}) >= 0.95'),
    (UP, expectation("==", 1), "failed", 'e: q (0 up{instance="refapp:8000", job="refapp"}) == 1'),
    (SUM, expectation("<", 5), "passed", "e: q (2) < 5"),
    (SCALAR, expectation(">=", 3), "passed", "e: q (3) >= 3"),
    (SCALAR, expectation(">", 3), "failed", "e: q (3) > 3"),
    (SCALAR_NAN, expectation("!=", 0), "failed", "e: q (NaN) != 0"),
    (INF, expectation("<", 10), "failed", 'e: q (+Inf {a="b"}) < 10'),
    (EMPTY, expectation(), "failed", "e: q (no data) >= 0.6"),
    (EMPTY, expectation(no_data="pass"), "passed", "e: q (no data) >= 0.6"),
    (EMPTY, expectation(no_data="warn"), "warned", "e: q (no data) >= 0.6"),
    (MATRIX, expectation(), "error", "e: q could not be evaluated: the query returns a range vector (matrix); "
     "expectations need an instant vector or a scalar: drop the [range] or wrap it, e.g. max_over_time(x[5m])"),
    (STRING, expectation(), "error",
     "e: q could not be evaluated: the query returns a string; expectations compare numbers"),
])
def test_judge(payload, exp, status, rendered):
    judgement = judge(exp, parse_query(payload))
    assert (judgement.status, judgement.render()) == (status, rendered)


def test_judge_lists_only_failing_series_and_bounds_the_list():
    samples = tuple(Sample({"i": str(n)}, float(n)) for n in range(15))
    judgement = judge(expectation(">=", 2), QueryResult("vector", samples))
    assert [s.labels["i"] for s in judgement.failing] == ["0", "1"]
    many = judge(expectation(">=", 100), QueryResult("vector", samples))
    assert many.observed.endswith('9 {i="9"}; … 5 more')


def test_hint_is_shown_only_on_failure():
    exp = expectation(hint="quality dropped: check the model version")
    assert judge(exp, parse_query(QUALITY)).render().endswith(">= 0.6")
    assert judge(expectation(threshold=1, hint="x"), parse_query(QUALITY)).render().endswith(">= 1 — x")


@pytest.mark.parametrize(("labels", "text"), [
    ({}, "{}"),
    ({"__name__": "up"}, "up"),
    ({"__name__": "up", "job": "a", "instance": "b"}, 'up{instance="b", job="a"}'),
    ({"job": "a"}, '{job="a"}'),
])
def test_format_labels(labels, text):
    assert format_labels(labels) == text


@pytest.mark.parametrize(("seconds", "text"), [(86400, "1d"), (7200, "2h"), (300, "5m"), (90, "90s"),
                                              (0.2, "1s"), (172800, "2d")])
def test_promql_duration(seconds, text):
    assert promql_duration(seconds) == text


def test_settings_validate_expectations():
    settings = Settings.model_validate({"url": "http://p:9090", "expectations": [
        {"name": "q", "query": "up", "op": ">=", "threshold": 1}]})
    assert (settings.expectations[0].no_data, settings.expectations[0].severity) == ("fail", "critical")
    with pytest.raises(ValidationError, match="repeated: q"):
        Settings.model_validate({"url": "http://p:9090", "expectations": [
            {"name": "q", "query": "up", "op": ">=", "threshold": 1},
            {"name": "q", "query": "up", "op": "<", "threshold": 2}]})
    with pytest.raises(ValidationError, match="op"):
        Settings.model_validate({"url": "http://p:9090", "expectations": [
            {"name": "q", "query": "up", "op": "=>", "threshold": 1}]})
    with pytest.raises(ValidationError, match="no_data"):
        Settings.model_validate({"url": "http://p:9090", "expectations": [
            {"name": "q", "query": "up", "op": ">=", "threshold": 1, "no_data": "ignore"}]})
