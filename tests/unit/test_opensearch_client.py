"""The OpenSearch client's contract without a server: settings, lazy connection, and how answers map to facts
and errors (httpx's mock transport stands in for the node)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.redact import forget_secrets, redact
from healthgate.targets.base import Timeouts
from healthgate.targets.opensearch.client import Client
from healthgate.targets.opensearch.facts import NotFound
from healthgate.targets.opensearch.settings import Settings
from healthgate.testing import make_target

Handler = Callable[[httpx.Request], httpx.Response]


def client_answering(handler: Handler, **settings: Any) -> Client:
    client = Client(Settings(url="http://os.internal:9200", **settings), Timeouts(connect=1, read=2))
    client._http = httpx.Client(base_url="http://os.internal:9200", transport=httpx.MockTransport(handler))
    return client


def answer(status: int, body: Any = None, *, text: str | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text)
        return httpx.Response(status, json=body)

    return handler


def test_defaults_follow_the_runbook() -> None:
    settings = Settings(url="http://localhost:9200")
    assert settings.logs is not None
    assert settings.logs.index == "ai-logs-*"
    assert settings.logs.window == 900.0
    assert settings.logs.error_query == {"term": {"level": "error"}}
    assert (settings.logs.min_docs, settings.logs.max_errors, settings.logs.max_threats) == (1, 50, 0)
    assert (settings.logs.threat_field, settings.logs.threat_value) == ("event_type", "security_threat")
    assert settings.snapshots is None
    assert Settings(url="http://x:9200", snapshots={}).snapshots.max_age == 26 * 3600  # type: ignore[union-attr]
    assert settings.verify_tls is True and settings.allow_yellow is False


def test_settings_are_closed_and_url_checked() -> None:
    with pytest.raises(ValidationError, match="allow_yelow"):
        Settings(url="http://x:9200", allow_yelow=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not an http"):
        Settings(url="os.internal:9200")


def test_credentials_from_fields_or_url_never_shown_in_the_address() -> None:
    in_url = Settings(url="https://mon:pw-in-url@os.internal:9200")
    assert in_url.credentials() == ("mon", "pw-in-url")
    assert in_url.address() == "https://os.internal:9200"
    fields = Settings(url="https://os.internal:9200", username="mon", password="pw-field")  # type: ignore[arg-type]
    assert fields.credentials() == ("mon", "pw-field")
    assert "pw-field" not in repr(fields)
    assert Settings(url="http://os.internal:9200").credentials() is None


def test_creating_target_and_client_opens_nothing() -> None:
    target = make_target("opensearch", {"url": "http://192.0.2.1:9200"})
    assert repr(target) == "<opensearch test http://192.0.2.1:9200>"
    client = target.client
    assert client._http is None
    assert target.connect_attempts == 0


def test_password_is_registered_as_a_secret_when_connecting() -> None:
    forget_secrets()
    try:
        client = Client(Settings(url="http://os.internal:9200", username="mon",
                                 password="field-secret-123"), Timeouts())  # type: ignore[arg-type]
        client._client()
        assert redact("echoed field-secret-123") == "echoed ***"
        client.close()
    finally:
        forget_secrets()


def test_health_is_read_into_facts() -> None:
    body = {"status": "yellow", "number_of_nodes": 1, "active_shards": 4, "unassigned_shards": 2}
    client = client_answering(answer(200, body))
    health = client.health()
    assert (health.status, health.unassigned_shards, health.active_shards) == ("yellow", 2, 4)
    assert client.connect_attempts == 1


def test_unassigned_shards_come_from_cat_shards() -> None:
    rows = [{"index": "a", "shard": "0", "prirep": "p", "state": "STARTED", "unassigned.reason": None},
            {"index": "a", "shard": "0", "prirep": "r", "state": "UNASSIGNED", "unassigned.reason": "NODE_LEFT"}]
    shards = client_answering(answer(200, rows)).unassigned_shards()
    assert [s.describe() for s in shards] == ["a[0] replica (NODE_LEFT)"]


def test_snapshots_without_any_is_an_empty_list() -> None:
    assert client_answering(answer(200, {})).snapshots("repo") == []


def test_refused_credentials_are_auth_failed() -> None:
    client = client_answering(answer(401, {"error": "Unauthorized"}), username="mon", password="pw")
    with pytest.raises(AuthFailed, match="refused the credentials of user 'mon': Unauthorized"):
        client.health()


@pytest.mark.parametrize(("call", "grant"), [
    (lambda c: c.health(), "cluster permission cluster_monitor"),
    (lambda c: c.snapshots("repo"), "cluster:admin/snapshot/get"),
    (lambda c: c.count("ai-logs-*", {}), "index permission read on the logs index pattern"),
])
def test_forbidden_names_the_missing_grant(call: Callable[[Client], Any], grant: str) -> None:
    body = {"error": {"root_cause": [{"type": "security_exception", "reason": "no permissions"}]}, "status": 403}
    with pytest.raises(PermissionMissing) as caught:
        call(client_answering(answer(403, body)))
    assert "no permissions" in caught.value.what
    assert grant in caught.value.hint


def test_missing_index_pattern_is_not_found_with_its_reason() -> None:
    body = {"error": {"root_cause": [{"type": "index_not_found_exception", "reason": "no such index [ai-logs-*]"}]},
            "status": 404}
    with pytest.raises(NotFound) as caught:
        client_answering(answer(404, body)).count("ai-logs-*", {})
    assert (caught.value.kind, caught.value.reason) == ("index_not_found_exception", "no such index [ai-logs-*]")
    assert isinstance(caught.value, BadResponse)


def test_non_json_and_server_errors_are_bad_responses() -> None:
    with pytest.raises(BadResponse, match=r"non-JSON \(text/plain; charset=utf-8\): '<html>proxy error</html>'"):
        client_answering(answer(502, text="<html>proxy error</html>")).health()
    body = {"error": {"root_cause": [], "type": "search_phase_execution_exception", "reason": "all shards failed"}}
    with pytest.raises(BadResponse, match="HTTP 503: search_phase_execution_exception: all shards failed"):
        client_answering(answer(503, body)).count("ai-logs-*", {})


def test_connection_errors_and_timeouts_are_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(Unreachable, match="GET http://os.internal:9200/_cluster/health failed: ConnectError"):
        client_answering(refuse).health()
    with pytest.raises(Unreachable, match=r"timed out \(ReadTimeout, connect 1s / read 2s\)"):
        client_answering(hang).health()


def test_count_is_a_bounded_search_of_size_0_and_refuses_empty_patterns() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"timed_out": False, "_shards": {"total": 2, "failed": 0},
                                         "hits": {"total": {"value": 3, "relation": "eq"}, "hits": []}})

    counted = client_answering(handler).count("ai-logs-*", {"query": {"match_all": {}}})
    assert counted.count == 3
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/ai-logs-*/_search"
    assert request.url.params["allow_no_indices"] == "false"
    sent = {"query": {"match_all": {}}, "size": 0, "track_total_hits": True, "timeout": "1600ms"}
    assert json.loads(request.content) == sent == counted.body


def test_every_search_sends_a_timeout_below_the_read_timeout() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"hits": {"total": {"value": 0}, "hits": []}})

    client = client_answering(handler)
    client.search("ai-logs-*", {"query": {"match_all": {}}})
    client.newest_timestamp("ai-logs-*", "@timestamp")
    client.documents("ai-logs-*")
    assert [b["timeout"] for b in bodies] == ["1600ms"] * 3
    assert Client(Settings(url="http://x:9200"), Timeouts(read=0.0005)).search_timeout() == "1ms"


PARTIAL = {"took": 12, "timed_out": False, "hits": {"total": {"value": 0, "relation": "eq"}, "hits": []},
           "_shards": {"total": 2, "successful": 1, "skipped": 0, "failed": 1, "failures": [
               {"shard": 0, "index": "ai-logs-old", "reason": {"type": "query_shard_exception",
                                                               "reason": "failed to create query"}}]}}


@pytest.mark.parametrize("call", [
    lambda c: c.count("ai-logs-*", {}),
    lambda c: c.search("ai-logs-*", {}),
    lambda c: c.documents("ai-logs-*"),
    lambda c: c.newest_timestamp("ai-logs-*", "@timestamp"),
])
def test_a_partial_answer_is_never_a_count(call: Callable[[Client], Any]) -> None:
    with pytest.raises(BadResponse) as raised:
        call(client_answering(answer(200, PARTIAL)))
    assert raised.value.what == ("POST http://os.internal:9200/ai-logs-*/_search answered with partial results, so "
                                 "the count is not judged: 1 of 2 shards failed: ai-logs-old[0]: "
                                 "query_shard_exception: failed to create query")
    assert type(raised.value) is BadResponse
