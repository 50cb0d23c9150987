"""Servers that misbehave on purpose, one loopback port per misbehaviour, all on one asyncio loop in a thread.

Each misbehaviour is what a broken proxy, a wedged process or a hostile peer really sends: headers or a body
dripped a byte a second, bytes that are not HTTP, a Content-Length that lies, a chunked body without end, gzip
that does not decompress, JSON nested past any parser's stack, JSON of the wrong shape, Alertmanager states no
version documents, and an error page that echoes the request's secrets. Every connection ends after at most
``LIMIT_S`` seconds or when the client hangs up, so a test that fails never leaves a server running.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

LIMIT_S = 60.0

Writer = asyncio.StreamWriter
Behaviour = Callable[["Request", Writer], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The request head (and body, which no behaviour needs) or None when the client hung up first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path = ([*lines[0].split(" "), "", ""])[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    if length:
        await reader.readexactly(length)
    return Request(method, path, headers)


def head(status: str = "200 OK", **headers: str | int) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(body: bytes, status: str = "200 OK", content_type: str = "application/json") -> bytes:
    return head(status, Content_Type=content_type, Content_Length=len(body), Connection="close") + body


async def drip(writer: Writer, data: bytes, every: float = 1.0) -> None:
    """``data`` a byte at a time, then the same byte for ever (until the client leaves or LIMIT_S passes)."""
    position = 0
    while True:
        writer.write(data[position:position + 1] if position < len(data) else data[-1:])
        await writer.drain()
        position += 1
        await asyncio.sleep(every)


# --------------------------------------------------------------------------------------------- transport faults

async def header_drip(request: Request, writer: Writer) -> None:
    await drip(writer, b"HTTP/1.1 200 OK\r\nX-Drip: aaaa")


async def body_drip(request: Request, writer: Writer) -> None:
    writer.write(head(Content_Type="application/json", Content_Length=100_000))
    await drip(writer, b'{"status": "ok", "padding": "aaaa')


async def random_bytes(request: Request, writer: Writer) -> None:
    writer.write(random.Random(7).randbytes(4096))
    await writer.drain()


async def lying_length(request: Request, writer: Writer) -> None:
    """Promises 1000 bytes, sends 16, and keeps the connection open as if the rest were coming."""
    writer.write(head(Content_Type="application/json", Content_Length=1000) + b'{"status": "ok"}')
    await writer.drain()
    await asyncio.sleep(LIMIT_S)


async def endless_chunked(request: Request, writer: Writer) -> None:
    """A chunk every 200 ms for ever: each read gets data well within the read timeout."""
    writer.write(head(Content_Type="application/json", Transfer_Encoding="chunked"))
    chunk = b'{"status": "ok"}'
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        await asyncio.sleep(0.2)


async def gzip_garbage(request: Request, writer: Writer) -> None:
    body = random.Random(11).randbytes(512)
    writer.write(head(Content_Type="application/json", Content_Encoding="gzip", Content_Length=len(body),
                      Connection="close") + body)
    await writer.drain()


DEEP = 100_000


async def deep_json(request: Request, writer: Writer) -> None:
    if request.path.startswith("/-/"):
        writer.write(answer(b"OK", content_type="text/plain"))  # healthy, so the API endpoints get asked
    else:
        writer.write(answer(b"[" * DEEP + b"]" * DEEP))
    await writer.drain()


# ------------------------------------------------------------------------------------- answers of the wrong shape

def json_everywhere(payload: Any) -> Behaviour:
    """Every path answers 200 with ``payload`` (the health endpoints of Prometheus and Alertmanager included, so
    the API endpoints get asked too)."""
    body = json.dumps(payload, allow_nan=True).encode()

    async def behaviour(request: Request, writer: Writer) -> None:
        writer.write(answer(body))
        await writer.drain()

    return behaviour


# Every key a parser of any kind reads, each holding the wrong type (a list where a dict is expected, a dict where
# a list is, strings and NaN where numbers are).
WRONG_TYPES: dict[str, Any] = {
    "status": ["success"], "data": {"activeTargets": {"a": 1}, "groups": "none", "resultType": "vector",
                                    "result": {"metric": 1}},
    "number_of_nodes": "one", "active_shards": float("nan"), "unassigned_shards": [], "persistent": [],
    "transient": "x", "defaults": 3, "nodes": ["node-1"], "count": "many", "_shards": [], "hits": [],
    "snapshots": {"snapshot": "s"}, "labels": [], "annotations": [],
}


def per_path(routes: dict[str, Any], default: Any = None) -> Behaviour:
    """Answers ``routes[path]`` (the path without its query) as JSON; ``/-/…`` health endpoints answer OK."""
    async def behaviour(request: Request, writer: Writer) -> None:
        path = request.path.split("?", 1)[0]
        if path.startswith("/-/"):
            writer.write(answer(b"OK", content_type="text/plain"))
        else:
            writer.write(answer(json.dumps(routes.get(path, default)).encode()))
        await writer.drain()

    return behaviour


def alert(state: Any, **extra: Any) -> dict[str, Any]:
    """A critical alert as ``GET /api/v2/alerts`` lists it, with ``status.state`` set to ``state``."""
    return {"labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1"},
            "annotations": {"summary": "disk 97% full"}, "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": "f00d", "status": {"state": state, "silencedBy": [], "inhibitedBy": []}, **extra}


def alertmanager_listing(*alerts: dict[str, Any]) -> Behaviour:
    return per_path({"/api/v2/alerts": list(alerts), "/api/v2/silences": []})


# ------------------------------------------------------------------------------- TLS ports that are not quite TLS

def raw(behaviour: Behaviour) -> Behaviour:
    """Starts talking as soon as the client connects, without waiting for an HTTP request (a TLS client speaks
    first with its ClientHello, which these servers ignore)."""
    behaviour.raw = True  # type: ignore[attr-defined]
    return behaviour


@raw
async def tls_drip(request: Request, writer: Writer) -> None:
    """A TLS record header (handshake, TLS 1.2, 80 bytes) whose content comes a byte a second."""
    await drip(writer, b"\x16\x03\x03\x00\x50\x02")


@raw
async def tls_random(request: Request, writer: Writer) -> None:
    writer.write(random.Random(13).randbytes(4096))
    await writer.drain()


# ---------------------------------------------------------------------------------------------- leaking secrets

async def echo_secrets(request: Request, writer: Writer) -> None:
    """An error page that shows the request's headers back, as debug pages and some proxies do; the values are
    echoed bare, so only masking by value (not by shape) can keep them out of the output."""
    echoed = " ".join(value for name, value in request.headers.items()
                      if name in ("authorization", "x-api-key")).replace("Bearer ", "")
    writer.write(answer(json.dumps({"error": f"unknown credentials {echoed}", "status": "error",
                                    "errorType": "bad_data"}).encode(), status="500 Internal Server Error"))
    await writer.drain()


class HostileServers:
    """Starts every behaviour on its own loopback port; ``url(name)`` is where it listens."""

    def __init__(self, behaviours: dict[str, Behaviour]) -> None:
        self.behaviours = behaviours
        self.ports: dict[str, int] = {}
        self.connections: dict[str, int] = dict.fromkeys(behaviours, 0)
        self.loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hostile-servers", daemon=True)

    def __enter__(self) -> HostileServers:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile servers did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            for server in self._servers:
                server.close()
            tasks = asyncio.all_tasks(self.loop)
            for task in tasks:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

    async def _start(self) -> None:
        for name, behaviour in self.behaviours.items():
            server = await asyncio.start_server(self._handler(name, behaviour), "127.0.0.1", 0)
            self._servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]

    def _handler(self, name: str, behaviour: Behaviour) -> Callable[[asyncio.StreamReader, Writer], Awaitable[None]]:
        async def handle(reader: asyncio.StreamReader, writer: Writer) -> None:
            self.connections[name] += 1
            try:
                if getattr(behaviour, "raw", False):
                    request: Request | None = Request("", "", {})
                else:
                    request = await asyncio.wait_for(read_request(reader), LIMIT_S)
                if request is not None:
                    await asyncio.wait_for(behaviour(request, writer), LIMIT_S)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass  # the client hung up, the misbehaviour ran its course, or the servers are stopping
            finally:
                writer.close()

        return handle
