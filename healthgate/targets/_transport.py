"""How every HTTP-speaking kind (http, prometheus, alertmanager, opensearch) talks to its target.

Three things no kind should get wrong on its own: a deadline over the whole request, bodies read up to a limit,
and every way an answer can go wrong turned into a ``CheckError`` that names the request and what came back.

httpx's read timeout applies to each socket read, so a server that sends a byte a second never trips it. The
deadline here bounds every socket operation of a request (connect, TLS handshake, writes, each read of the status
line, headers and body) by the time left, so a request ends at ``connect + read`` seconds whatever the server does.
It lives in the connection pool's network stream, where every byte passes: no thread, no timer per request.
"""

from __future__ import annotations

import functools
import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import httpcore
import httpx

from healthgate.errors import BadResponse, CheckError, Unreachable
from healthgate.targets.base import Timeouts

EXCERPT_BYTES = 200
EXCHANGE = "healthgate.exchange"  # request extension carrying the request's Exchange to the transport


def budget(timeouts: Timeouts) -> float:
    """The most one request may take, from the first connect attempt to the last byte of its body."""
    return timeouts.connect + timeouts.read


@dataclass
class Exchange:
    """One request on the wire: when it must be over, and the first bytes the server sent (for messages)."""

    deadline: float
    received: bytearray = field(default_factory=bytearray)
    received_total: int = 0

    @classmethod
    def within(cls, seconds: float) -> Exchange:
        return cls(time.monotonic() + seconds)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def record(self, data: bytes) -> None:
        self.received_total += len(data)
        if len(self.received) < EXCERPT_BYTES:
            self.received += data[:EXCERPT_BYTES - len(self.received)]


_current = threading.local()


@contextmanager
def _during(exchange: Exchange) -> Iterator[None]:
    """Makes ``exchange`` the one whose deadline the sockets of this thread obey while the block runs."""
    previous = getattr(_current, "exchange", None)
    _current.exchange = exchange
    try:
        yield
    finally:
        _current.exchange = previous


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` shortened to the time the current request has left; ``error`` once none is left."""
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is None:
        return timeout
    left = exchange.deadline - time.monotonic()
    if left <= 0:
        raise error("request deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))
        exchange: Exchange | None = getattr(_current, "exchange", None)
        if exchange is not None:
            exchange.record(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_tcp(host, port, _bounded(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # pragma: no cover - unused
        return _Stream(self._inner.connect_unix_socket(path, _bounded(timeout, httpcore.ConnectTimeout),
                                                       socket_options))

    def sleep(self, seconds: float) -> None:  # pragma: no cover - httpcore sleeps only between retries (none)
        self._inner.sleep(seconds)


class _BoundedBody(httpx.SyncByteStream):
    """The body of a response, read under its request's deadline (the caller reads it after the transport
    returned, possibly interleaved with other requests of the same thread)."""

    def __init__(self, inner: Any, exchange: Exchange) -> None:
        self._inner = inner
        self._exchange = exchange

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        while True:
            with _during(self._exchange):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        with _during(self._exchange):
            self._inner.close()


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, with a connection pool whose sockets obey each request's deadline."""

    def __init__(self, seconds: float, *, verify: Any, proxy: str | None = None) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context)  # sets up httpx's side; its pool is replaced below
        self.seconds = seconds
        if proxy is None:
            self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=_Backend())
        else:
            via = httpx.Proxy(proxy)
            self._pool = httpcore.HTTPProxy(
                proxy_url=httpcore.URL(scheme=via.url.raw_scheme, host=via.url.raw_host, port=via.url.port,
                                       target=via.url.raw_path),
                proxy_auth=via.raw_auth, proxy_headers=via.headers.raw, ssl_context=ssl_context,
                network_backend=_Backend())

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        exchange = request.extensions.get(EXCHANGE) or Exchange.within(self.seconds)
        with _during(exchange):
            response = super().handle_request(request)
        response.stream = _BoundedBody(response.stream, exchange)
        return response


def transport(timeouts: Timeouts, *, verify: Any, base_url: str) -> DeadlineTransport:
    """The transport for one target, through the proxy the environment names for its URL (as httpx would)."""
    parts = urlsplit(base_url)
    proxies = getproxies()
    proxy = None if proxy_bypass(parts.hostname or "") else proxies.get(parts.scheme) or proxies.get("all")
    return DeadlineTransport(budget(timeouts), verify=verify, proxy=proxy)


# ---------------------------------------------------------------------------------------------------- requests

@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    truncated: bool
    elapsed: float


def fetch(client: Any, method: str, path: str, *, shown: str, timeouts: Timeouts, limit: int, product: str,
          **request: Any) -> Answer:
    """One request through ``client``; the body read up to ``limit`` decoded bytes (so a compressed answer is
    limited by what it expands to). ``shown`` is the redacted URL messages name."""
    exchange = Exchange.within(budget(timeouts))
    started = time.perf_counter()
    status: int | None = None
    headers: dict[str, str] = {}
    size = 0
    try:
        with client.stream(method, path, extensions={EXCHANGE: exchange}, **request) as response:
            status = response.status_code
            headers = {k.lower(): v for k, v in response.headers.items()}
            chunks: list[bytes] = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
            return Answer(status, headers, b"".join(chunks)[:limit], size > limit, time.perf_counter() - started)
    except httpx.HTTPError as exc:
        raise failure(exc, f"{method} {shown}", timeouts=timeouts, product=product, exchange=exchange,
                      status=status, headers=headers, body_bytes=size) from None


def failure(exc: httpx.HTTPError, request: str, *, timeouts: Timeouts, product: str, exchange: Exchange,
            status: int | None, headers: dict[str, str], body_bytes: int) -> CheckError:
    """What went wrong with ``request``, as a runbook line: could not reach it (``Unreachable``, which marks the
    target down for the rest of the run) or it answered something unusable (``BadResponse``)."""
    limits = f"connect {timeouts.connect:g}s / read {timeouts.read:g}s"
    seen = excerpt(bytes(exchange.received))
    if isinstance(exc, httpx.DecodingError):
        encoding = headers.get("content-encoding", "?")
        return BadResponse(f"{request} answered HTTP {status} with a body that does not decode as its "
                           f"Content-Encoding {encoding!r} says ({exc})",
                           hint=f"the {product} or a proxy in front of it sends a corrupt compressed body")
    if isinstance(exc, httpx.TimeoutException) and exchange.expired:
        sofar = (f"HTTP {status} and {body_bytes} bytes of body" if status is not None
                 else f"{exchange.received_total} bytes: {seen}" if exchange.received_total else "nothing")
        return Unreachable(f"{request}: no complete answer within {budget(timeouts):g}s ({limits}); received "
                           f"{sofar}", hint=f"the {product} answers too slowly, or something between (proxy, load "
                           "balancer) holds the connection open without answering")
    if isinstance(exc, httpx.TimeoutException):
        after = f" after HTTP {status} and {body_bytes} bytes of body" if status is not None else ""
        return Unreachable(f"{request} timed out ({type(exc).__name__}, {limits}){after}",
                           hint=f"is the {product} up and reachable from here?")
    if isinstance(exc, httpx.RemoteProtocolError) and status is not None:
        return BadResponse(f"{request} answered HTTP {status} but the body broke off after {body_bytes} bytes: "
                           f"{exc}", hint=f"the {product} or a proxy in front of it cut the answer short")
    if isinstance(exc, httpx.RemoteProtocolError) and exchange.received_total:
        return BadResponse(f"{request} answered something that is not HTTP ({exchange.received_total} bytes): "
                           f"{seen}", hint=f"is this the {product}'s HTTP port (not TLS, not another protocol)?")
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return Unreachable(f"{request}: TLS certificate not trusted: {exc}",
                           hint="set ca_file to the CA that signs it, or check it with a tls target")
    return Unreachable(f"{request} failed: {type(exc).__name__}: {exc}",
                       hint=f"is the {product} up, and the URL's host and port right?")


def excerpt(data: bytes, size: int = 80) -> str:
    """The first bytes of an answer, quoted: as text when they are text, as escaped bytes when they are not."""
    head = data[:size]
    try:
        return repr(head.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(head)


def decode_json(body: bytes, *, what: str, content_type: str = "", hint: str = "") -> Any:
    """Decoded JSON of an answer; ``what`` says which answer (``GET url answered HTTP 200``)."""
    try:
        return json.loads(body)
    except RecursionError:
        raise BadResponse(f"{what} with JSON nested too deep to read: {excerpt(body, 60)}",
                          hint=hint or "no real API nests that deep: is something in front of it answering?") from None
    except ValueError:
        ctype = f" ({content_type})" if content_type else ""
        shown = body[:120].decode("utf-8", errors="replace").replace("\n", " ")
        raise BadResponse(f"{what} with non-JSON{ctype}: {shown!r}", hint=hint) from None


@functools.lru_cache(maxsize=32)
def trust_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA bundle, shared by every target that uses it: building one costs ~15 ms
    and ~0.8 MB, which a fleet of a thousand targets would otherwise pay a thousand times. The system trust store
    (not certifi's bundle, which httpx would use) unless the target names its own ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file)


def http_client(settings: Any, timeouts: Timeouts, *, base_url: str, auth: Any = None, json_api: bool = False) -> Any:
    """An httpx client as every HTTP-speaking kind needs it: the profile's connect and read timeouts, the target's
    headers and bearer token, the system trust store (or its ``ca_file``) unless verification is switched off for
    that target, no redirects followed (a health endpoint that redirects is itself a finding), and a deadline of
    connect + read over each whole request (see ``_transport``)."""
    import httpx

    headers = {"Accept": "application/json"} if json_api else {}
    headers.update(getattr(settings, "headers", {}) or {})
    token = getattr(settings, "token", None)
    if token is not None:
        headers["Authorization"] = f"Bearer {token.get_secret_value()}"
    verify: Any = trust_context(getattr(settings, "ca_file", None)) if settings.verify_tls else False
    # trust_env off: the transport takes the environment's proxy itself, so proxied requests keep the deadline
    return httpx.Client(base_url=base_url, headers=headers, auth=auth, trust_env=False,
                        transport=transport(timeouts, verify=verify, base_url=base_url),
                        timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect), follow_redirects=False)
