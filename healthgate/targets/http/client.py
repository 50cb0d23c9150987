"""The only code that talks to a http target: read-only, with timeouts on every call."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from healthgate.errors import CheckError
from healthgate.targets._transport import fetch
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
                from healthgate.targets._transport import http_client

                self._http = http_client(self.settings, self.timeouts, base_url=self.settings.url)
            return self._http

    def _where(self, path: str) -> str:
        from healthgate.redact import redact

        return redact(path) if "://" in path else f"{self.settings.address()}{path}"

    def request(self, method: str, path: str, *, json_body: Any = None, limit: int | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """One request, body read up to ``limit`` bytes; ``path`` is relative to the base URL, or absolute."""
        client = self._client()
        with self._lock:
            self.connect_attempts += 1
        where = self._where(path)
        answer = fetch(client, method, path, shown=where, timeouts=self.timeouts, product="service",
                       limit=limit or self.settings.max_body, json=json_body, headers=headers)
        return Response(answer.status, answer.headers, answer.body, answer.elapsed, answer.truncated, where)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def sample(self, spec: LatencySpec, default_path: str) -> SampleSet:
        """``spec.samples`` requests, ``spec.concurrency`` at a time; taken once per client so the latency and
        error-rate checks judge the same requests (a retry gets a fresh client, hence fresh samples).

        A request without a usable answer (timeout, refused, reset, undecodable) is one failed sample, and no
        further request is started after it: a dead or garbling target would otherwise cost one timeout per
        sample. When no request got an answer, that first failure is raised.
        """
        path = spec.path or default_path
        key = json.dumps([spec.method, path, spec.body, spec.samples, spec.concurrency], sort_keys=True,
                         default=str)
        if key in self._sampled:
            return self._sampled[key]
        failures: list[CheckError] = []

        def one(_: int) -> Sample | None:
            if failures:
                return None
            started = time.perf_counter()
            try:
                response = self.request(spec.method, path, json_body=spec.body)
            except CheckError as exc:
                failures.append(exc)
                return Sample(None, time.perf_counter() - started, exc.what)  # the hint is given once, by the check
            return Sample(response.status, response.elapsed)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(spec.concurrency, spec.samples),
                                thread_name_prefix="healthgate-sample") as pool:
            samples = tuple(s for s in pool.map(one, range(spec.samples)) if s is not None)
        wall = time.perf_counter() - started
        if all(s.status is None for s in samples):
            raise failures[0]
        result = SampleSet(spec.method, self._where(path), samples, spec.concurrency, wall, planned=spec.samples)
        self._sampled[key] = result
        return result

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
            self._sampled.clear()
