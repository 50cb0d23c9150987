"""The whole-request deadline and the error mapping of the shared HTTP transport, against misbehaving servers
on loopback, in-process: how long a request may take, what its message says, and what it costs (no thread per
request, one failed sample instead of one timeout per sample)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Timeouts
from healthgate.targets.http.client import Client
from healthgate.targets.http.settings import LatencySpec, Settings
from tests.hostile import server as hostile

TIMEOUTS = Timeouts(connect=0.5, read=2.0)  # budget 2.5 s; a 1 s drip never trips the 2 s read timeout


@pytest.fixture(scope="module")
def servers() -> Iterator[hostile.HostileServers]:
    with hostile.HostileServers({"header_drip": hostile.header_drip, "body_drip": hostile.body_drip,
                                 "endless_chunked": hostile.endless_chunked,
                                 "gzip_garbage": hostile.gzip_garbage,
                                 "healthy_then_drip": healthy_then_drip()}) as running:
        yield running


def healthy_then_drip() -> hostile.Behaviour:
    """Answers its first three requests, then drips headers: a service that hangs in the middle of a sample."""
    answered = [0]

    async def behaviour(request: hostile.Request, writer: hostile.Writer) -> None:
        answered[0] += 1
        if answered[0] > 3:
            await hostile.header_drip(request, writer)
        writer.write(hostile.answer(b'{"status": "ok"}'))
        await writer.drain()

    return behaviour


def client(servers: hostile.HostileServers, name: str) -> Client:
    return Client(Settings(url=servers.url(name)), TIMEOUTS)


@pytest.mark.parametrize(("name", "received"), [
    ("header_drip", r"received \d bytes: 'HTT?P?'"),  # a byte a second: the status line never completes
    ("body_drip", r"received HTTP 200 and \d bytes of body"),
    ("endless_chunked", r"received HTTP 200 and \d+ bytes of body"),  # a chunk every 200 ms
])
def test_a_request_ends_at_its_deadline_whatever_the_server_sends(servers, name: str, received: str) -> None:
    started = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        client(servers, name).get("/health")
    elapsed = time.monotonic() - started
    assert 2.5 <= elapsed < 3.5, elapsed
    assert re.match(re.escape(f"GET {servers.url(name)}/health: no complete answer within 2.5s (connect 0.5s / read "
                              "2s); ") + received, str(raised.value)), raised.value


def test_deadlines_cost_no_thread(servers) -> None:
    before = threading.active_count()
    clients = [client(servers, "header_drip") for _ in range(8)]
    errors: list[Exception] = []

    def call(c: Client) -> None:
        try:
            c.get("/health")
        except Unreachable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    during = threading.active_count()
    for t in threads:
        t.join(5)
    assert len(errors) == 8
    assert during == before + 8, "one thread per caller, none per request"
    assert threading.active_count() == before


def test_undecodable_body_is_a_bad_response_naming_the_encoding(servers) -> None:
    with pytest.raises(BadResponse) as raised:
        client(servers, "gzip_garbage").get("/health")
    assert str(raised.value) == (
        f"GET {servers.url('gzip_garbage')}/health answered HTTP 200 with a body that does not decode as its "
        "Content-Encoding 'gzip' says (Error -3 while decompressing data: incorrect header check) — the service "
        "or a proxy in front of it sends a corrupt compressed body")


def test_sampling_stops_at_the_first_request_without_usable_answer(servers) -> None:
    before = servers.connections["gzip_garbage"]
    with pytest.raises(BadResponse, match="does not decode"):
        client(servers, "gzip_garbage").sample(LatencySpec(samples=20, concurrency=1), "/health")
    assert servers.connections["gzip_garbage"] - before == 1


def test_sampling_a_dripping_server_costs_one_deadline_not_one_per_sample(servers) -> None:
    started = time.monotonic()
    with pytest.raises(Unreachable, match="no complete answer within 2.5s"):
        client(servers, "header_drip").sample(LatencySpec(samples=20, concurrency=4), "/health")
    assert time.monotonic() - started < 3.5


def test_sampling_keeps_the_answers_before_the_first_failure(servers) -> None:
    sampled = client(servers, "healthy_then_drip").sample(LatencySpec(samples=20, concurrency=1), "/health")
    assert [s.status for s in sampled.samples] == [200, 200, 200, None]
    assert (sampled.planned, sampled.stopped_early, sampled.error_rate_pct) == (20, True, 25.0)
    assert "no complete answer within 2.5s" in sampled.samples[-1].error


def test_a_proxy_from_the_environment_is_used_and_keeps_the_deadline(servers, monkeypatch) -> None:
    """The dripping server plays a proxy named by HTTP_PROXY: the request goes through it, and still ends."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", servers.url("header_drip"))
    before = servers.connections["header_drip"]
    started = time.monotonic()
    with pytest.raises(Unreachable, match="no complete answer within 2.5s"):
        Client(Settings(url="http://service.invalid:8000"), TIMEOUTS).get("/health")
    assert time.monotonic() - started < 3.5
    assert servers.connections["header_drip"] - before == 1
