"""HTTP services: health endpoints, latency samples, guardrails. A read-only client with hard body limits."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from pydantic import Field, SecretStr

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts
from healthgate.units import Duration, Size


class HealthSpec(Model):
    path: str = "/health"
    expect_status: tuple[int, ...] = Field((200,), description="acceptable HTTP status codes")
    expect_json: dict[str, Any] = Field(default_factory=dict,
                                        description="JSON fields that must equal these values (dotted paths)")
    expect_version: str | None = Field(None, description="version/commit the health payload must report (post)")
    version_field: str = "version"


class HttpThresholds(Model):
    latency_p95: Duration = Field(2.0, description="P95 response time (seeds: < 2 s)")
    latency_p99: Duration | None = None
    latency_p50: Duration | None = None


class Settings(TargetSettings):
    url: str = Field(description="base URL, e.g. https://app.example.com")
    verify_tls: bool = Field(True, description="verify certificates; turning it off is reported as a warning")
    headers: dict[str, str] = Field(default_factory=dict)
    token: SecretStr | None = Field(None, description="bearer token sent as Authorization header")
    max_body: Size = Field(1024 * 1024, description="responses are cut off beyond this size")
    health: HealthSpec = HealthSpec()
    thresholds: HttpThresholds = HttpThresholds()

    def address(self) -> str:
        from healthgate.redact import redact

        return redact(self.url)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float
    truncated: bool
    url: str

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        if self.truncated:
            raise BadResponse(f"{self.url} answered more than the {len(self.body)}-byte limit; cannot parse JSON",
                              hint="raise max_body for this target if the endpoint is legitimately large")
        try:
            return json.loads(self.body)
        except ValueError:
            ctype = self.headers.get("content-type", "?")
            excerpt = self.text()[:120].replace("\n", " ")
            raise BadResponse(f"{self.url} answered HTTP {self.status} with non-JSON ({ctype}): {excerpt!r}",
                              hint="is this the service's health endpoint, or a proxy/error page?") from None


class Client(BaseClient):
    """One pooled httpx client per target per worker; every request has connect and read timeouts."""

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._http: Any = None

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            headers = dict(self.settings.headers)
            if self.settings.token is not None:
                headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
            self._http = httpx.Client(
                base_url=self.settings.url,
                headers=headers,
                verify=self.settings.verify_tls,
                timeout=httpx.Timeout(self.timeouts.read, connect=self.timeouts.connect),
                follow_redirects=False,
            )
        return self._http

    def request(self, method: str, path: str, *, json_body: Any = None, limit: int | None = None) -> Response:
        import httpx

        limit = limit or self.settings.max_body
        client = self._client()
        self.connect_attempts += 1
        started = time.perf_counter()
        deadline = started + self.timeouts.read
        try:
            with client.stream(method, path, json=json_body) as response:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in response.iter_raw():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        truncated = True
                        break
                    if time.perf_counter() > deadline:
                        raise Unreachable(f"{self.settings.address()}{path}: body still streaming after "
                                          f"{self.timeouts.read:.1f}s read timeout",
                                          hint="the endpoint streams without end; check it is the right path")
                body = b"".join(chunks)[:limit]
                elapsed = time.perf_counter() - started
                return Response(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                                body, elapsed, truncated, f"{self.settings.address()}{path}")
        except httpx.TimeoutException as exc:
            raise Unreachable(f"{method} {self.settings.address()}{path} timed out ({type(exc).__name__}, connect "
                              f"{self.timeouts.connect:.1f}s / read {self.timeouts.read:.1f}s)",
                              hint="is the service up and reachable from here?") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{method} {self.settings.address()}{path} failed: {type(exc).__name__}: {exc}",
                              hint="is the service up, and the URL's host and port right?") from None

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
