"""The only code that talks to a http target: read-only, with timeouts on every call."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from healthgate.errors import Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.http.facts import Response, Sample, SampleSet
from healthgate.targets.http.settings import LatencySpec, Settings


class Client(BaseClient):
    """One pooled httpx client per target per worker; every request has connect and read timeouts."""

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._http: Any = None
        self._lock = threading.Lock()
        self._sampled: dict[str, SampleSet] = {}

    def _client(self) -> Any:
        with self._lock:
            if self._http is None:
                from healthgate.targets.base import http_client

                self._http = http_client(self.settings, self.timeouts, base_url=self.settings.url)
            return self._http

    def _where(self, path: str) -> str:
        from healthgate.redact import redact

        return redact(path) if "://" in path else f"{self.settings.address()}{path}"

    def request(self, method: str, path: str, *, json_body: Any = None, limit: int | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """One request, body read up to ``limit`` bytes; ``path`` is relative to the base URL, or absolute."""
        import httpx

        limit = limit or self.settings.max_body
        client = self._client()
        with self._lock:
            self.connect_attempts += 1
        where = self._where(path)
        started = time.perf_counter()
        deadline = started + self.timeouts.read
        try:
            with client.stream(method, path, json=json_body, headers=headers) as response:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                # decoded bytes, so a compressed body is limited by what it expands to
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > limit:
                        truncated = True
                        break
                    if time.perf_counter() > deadline:
                        raise Unreachable(f"{where}: body still streaming after {self.timeouts.read:.1f}s "
                                          "read timeout",
                                          hint="the endpoint streams without end; check it is the right path")
                body = b"".join(chunks)[:limit]
                elapsed = time.perf_counter() - started
                return Response(response.status_code, {k.lower(): v for k, v in response.headers.items()},
                                body, elapsed, truncated, where)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"{method} {where} timed out ({type(exc).__name__}, connect "
                              f"{self.timeouts.connect:.1f}s / read {self.timeouts.read:.1f}s)",
                              hint="is the service up and reachable from here?") from None
        except httpx.TransportError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise Unreachable(f"{method} {where}: TLS certificate not trusted: {exc}",
                                  hint="set ca_file to the CA that signs it, or check it with a tls target") from None
            raise Unreachable(f"{method} {where} failed: {type(exc).__name__}: {exc}",
                              hint="is the service up, and the URL's host and port right?") from None

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def sample(self, spec: LatencySpec, default_path: str) -> SampleSet:
        """``spec.samples`` requests, ``spec.concurrency`` at a time; taken once per client so the latency and
        error-rate checks judge the same requests (a retry gets a fresh client, hence fresh samples).

        A request without answer is one failed sample; only when every request fails is the target unreachable.
        """
        path = spec.path or default_path
        key = json.dumps([spec.method, path, spec.body, spec.samples, spec.concurrency], sort_keys=True,
                         default=str)
        if key in self._sampled:
            return self._sampled[key]

        def one(_: int) -> Sample:
            started = time.perf_counter()
            try:
                response = self.request(spec.method, path, json_body=spec.body)
            except Unreachable as exc:
                return Sample(None, time.perf_counter() - started, exc.what)  # the hint is given once, below
            return Sample(response.status, response.elapsed)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(spec.concurrency, spec.samples),
                                thread_name_prefix="healthgate-sample") as pool:
            samples = tuple(pool.map(one, range(spec.samples)))
        wall = time.perf_counter() - started
        if all(s.status is None for s in samples):
            raise Unreachable(f"all {len(samples)} sampled requests to {self._where(path)} failed; first: "
                              f"{samples[0].error}", hint="is the service up and reachable from here?")
        result = SampleSet(spec.method, self._where(path), samples, spec.concurrency, wall)
        self._sampled[key] = result
        return result

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
            self._sampled.clear()
