"""JSON HTTP APIs of monitoring servers (Prometheus, Alertmanager): connection settings, a read-only client with
bounded, time-limited GETs, and the API's status codes turned into our errors."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import Field, SecretStr

from healthgate.errors import AuthFailed, BadResponse
from healthgate.redact import redact
from healthgate.targets._transport import http_client
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import TargetSettings, Timeouts
from healthgate.units import Size


class ApiSettings(TargetSettings):
    url: str = Field(description="base URL of the server, e.g. http://prometheus:9090")
    verify_tls: bool = Field(True, description="verify certificates of an https URL")
    ca_file: str | None = Field(None, description="CA bundle that signs the server's certificate")
    headers: dict[str, str] = Field(default_factory=dict, description="extra request headers (e.g. a tenant id)")
    token: SecretStr | None = Field(None, description="bearer token sent as Authorization header")
    # API listings (scrape targets, rules, alerts) of a large installation run to megabytes.
    max_body: Size = Field(16 * 1024 * 1024, description="responses are cut off beyond this size")

    def address(self) -> str:
        return redact(self.url.rstrip("/"))


@dataclass(frozen=True)
class Probe:
    """Answer of a plain-text health endpoint such as ``/-/ready``."""

    path: str
    status: int
    text: str
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    truncated: bool
    elapsed: float
    where: str  # redacted URL, for messages

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        from healthgate.targets._transport import decode_json

        if self.truncated:
            raise BadResponse(f"{self.where} answered more than the {len(self.body)}-byte limit; cannot parse it",
                              hint="raise max_body for this target if the listing is legitimately that large")
        return decode_json(self.body, what=f"{self.where} answered HTTP {self.status}",
                           hint="does the URL point at the API itself rather than a proxy or login page?")


class ApiClient(BaseClient):
    """One pooled httpx client per target per worker; connect and read timeouts on every request, and a body
    limit enforced while reading, as the ``http`` kind does."""

    product = "server"

    def __init__(self, settings: ApiSettings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._http: Any = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        with self._lock:
            if self._http is None:
                self._http = http_client(self.settings, self.timeouts, base_url=self.settings.url, json_api=True)
            return self._http

    def where(self, path: str) -> str:
        """``GET <address><path>``, redacted: how messages name a request."""
        return f"GET {redact(self.settings.address() + path)}"

    def get(self, path: str, *, limit: int | None = None) -> Response:
        from healthgate.targets._transport import fetch

        client = self._client()
        with self._lock:
            self.connect_attempts += 1
        where = redact(f"{self.settings.address()}{path}")
        answer = fetch(client, "GET", path, shown=where, timeouts=self.timeouts, product=self.product,
                       limit=limit or self.settings.max_body)
        return Response(answer.status, answer.body, answer.truncated, answer.elapsed, where)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    def probe(self, path: str) -> Probe:
        response = self.get(path, limit=4096)
        return Probe(path, response.status, response.text().strip()[:200], response.elapsed)

    def get_json(self, path: str, params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None) -> Any:
        """The decoded body of a 2xx answer; refused credentials and API errors become ``CheckError``s."""
        target = f"{path}?{urlencode(params)}" if params else path
        response = self.get(target)
        if response.status in (401, 403):
            raise AuthFailed(f"GET {response.where} answered HTTP {response.status}",
                             hint=f"set a token or headers accepted by the {self.product} (or its proxy)")
        if not 200 <= response.status < 300:
            detail = api_error(response)
            raise ApiRejected(response.status, detail,
                              f"GET {response.where} answered HTTP {response.status}: {detail}",
                              hint=f"is this the {self.product}'s API, and is the {self.product} ready?")
        return response.json()


class ApiRejected(BadResponse):
    """The API answered with an error status; ``status`` tells a bad request (4xx) from a failing server (5xx)."""

    def __init__(self, status: int, detail: str, what: str, *, hint: str = "") -> None:
        self.status = status
        self.detail = detail
        super().__init__(what, hint=hint)


def api_error(response: Response) -> str:
    """The error a Prometheus-style API puts in its JSON body, or an excerpt of whatever came back."""
    try:
        payload = response.json()
    except BadResponse:
        return repr(response.text()[:200])
    if isinstance(payload, dict) and "error" in payload:
        kind = payload.get("errorType")
        return f"{kind}: {payload['error']}" if kind else str(payload["error"])
    return repr(str(payload)[:200])
