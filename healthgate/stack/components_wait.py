"""Readiness strategies that speak a component's own protocol.

A port that accepts connections is not a ready database: PostgreSQL's entrypoint runs its init
scripts before the real server listens, and Redis answers ``LOADING`` while it reads its dump.
These strategies ask the question a client would ask, through the published port.
"""

from __future__ import annotations

import time

import httpx
import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

# One try must stay well under a wait's total time, so a hanging connect cannot eat it.
CONNECT_TIMEOUT_S = 2


class _ProbeStrategy(WaitStrategy):
    """Polls ``probe`` until it returns without raising; times out with the last error."""

    description = "probe"

    def __init__(self, port: int) -> None:
        super().__init__()
        self._port = port
        self.last_error = ""

    def probe(self, host: str, port: int) -> None:
        raise NotImplementedError

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(self._port))
        started = time.monotonic()
        while True:
            try:
                self.probe(host, port)
                return
            except Exception as exc:  # any failure of the probe means "not yet"
                self.last_error = f"{type(exc).__name__}: {exc}".strip()
            if time.monotonic() - started > self._startup_timeout:
                raise TimeoutError(
                    f"{self.description} did not succeed within {self._startup_timeout:.0f} s "
                    f"at {host}:{port}; last error: {self.last_error}"
                )
            time.sleep(self._poll_interval)


class PostgresQuery(_ProbeStrategy):
    """Ready when a psycopg connection can run ``query`` (by default ``SELECT 1``)."""

    def __init__(self, port: int, user: str, password: str, dbname: str, query: str = "SELECT 1") -> None:
        super().__init__(port)
        self._user = user
        self._password = password
        self._dbname = dbname
        self._query = query
        self.description = f"psycopg `{query}` as {user} in database {dbname}"

    def probe(self, host: str, port: int) -> None:
        with psycopg.connect(
            host=host,
            port=port,
            user=self._user,
            password=self._password,
            dbname=self._dbname,
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
        ) as conn:
            conn.execute(self._query).fetchall()


class RedisPing(_ProbeStrategy):
    """Ready when an authenticated ``PING`` answers ``PONG`` (not ``LOADING``)."""

    def __init__(self, port: int, password: str) -> None:
        super().__init__(port)
        self._password = password
        self.description = "redis PING with the admin password"

    def probe(self, host: str, port: int) -> None:
        client = redis.Redis(
            host=host,
            port=port,
            password=self._password,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=CONNECT_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            if client.ping() is not True:
                raise ConnectionError("PING did not answer PONG")
        finally:
            client.close()


class PrometheusScraped(_ProbeStrategy):
    """Ready when ``/-/ready`` answers 200 and every active scrape target has been scraped once: before that its
    targets' health is unknown, which the scrape-target check cannot judge. With ``jobs``, each of them must have
    its targets too: service discovery hands jobs over one by one, so "all scraped" can hold before every job is
    there."""

    description = "Prometheus /-/ready answering 200 and every active scrape target scraped once"

    def __init__(self, port: int, jobs: tuple[str, ...] = ()) -> None:
        super().__init__(port)
        self._jobs = jobs

    def probe(self, host: str, port: int) -> None:
        base = f"http://{host}:{port}"
        timeout = httpx.Timeout(CONNECT_TIMEOUT_S)
        httpx.get(f"{base}/-/ready", timeout=timeout).raise_for_status()
        response = httpx.get(f"{base}/api/v1/targets", params={"state": "active"}, timeout=timeout)
        response.raise_for_status()
        targets = response.json()["data"]["activeTargets"]
        pending = [t.get("scrapeUrl") for t in targets if t.get("health") == "unknown"]
        if pending:
            raise ConnectionError(f"not scraped yet: {', '.join(map(str, pending))}")
        missing = sorted(set(self._jobs) - {t.get("labels", {}).get("job") for t in targets})
        if missing:
            raise ConnectionError(f"no target discovered yet for job(s) {', '.join(missing)}")


class MetricsSeries(_ProbeStrategy):
    """Ready when ``/metrics`` serves a sample of ``name`` (with ``labels``), equal to ``value`` unless None: an
    exporter is ready when it reaches what it exports (``pg_up 1``), not when its HTTP server answers."""

    def __init__(self, port: int, name: str, value: float | None, labels: dict[str, str] | None = None) -> None:
        super().__init__(port)
        self._name = name
        self._value = value
        self._labels = labels or {}
        wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in self._labels.items()) + "}" if labels else "")
        self.description = f"GET /metrics serving {wanted}" + (f" {value:g}" if value is not None else "")

    def probe(self, host: str, port: int) -> None:
        response = httpx.get(f"http://{host}:{port}/metrics", timeout=httpx.Timeout(CONNECT_TIMEOUT_S))
        response.raise_for_status()
        seen = []
        for line in response.text.splitlines():
            if not line.startswith(self._name) or line[len(self._name):len(self._name) + 1] not in ("{", " "):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in self._labels.items()):
                seen.append(line)
                if self._value is None or float(value) == self._value:
                    return
        raise ConnectionError(f"/metrics serves {'; '.join(seen) if seen else f'no {self._name} sample'}")
