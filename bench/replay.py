"""The limit: the probes a recorded run sent, fired again by one bare script, without pytest or the engine.

    python -m bench.replay PROBES.json --mode concurrent|sequential

Same client libraries as the engine (httpx, psycopg, redis-py), one reused connection per target, each
check's own concurrency kept (latency samples go out as many at a time as the run sent them). ``concurrent``
runs every target in its own thread: no tool can answer faster than that. ``sequential`` runs targets one after
the other, like ``pytest -n 0``; it is the base of the per-check overhead. Prints one JSON line of counts.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import gzip
import json
import os
import subprocess
import sys
import tarfile
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class Connections:
    """The reused connections of one target."""

    def __init__(self, timeouts: dict[str, float]) -> None:
        self.connect = float(timeouts.get("connect", 3.0))
        self.read = float(timeouts.get("read", 10.0))
        self.http: dict[int, Any] = {}
        self.pg: Any = None
        self.redis: dict[str, Any] = {}

    def http_client(self, key: int, url: str) -> Any:
        if key not in self.http:
            import httpx

            verify: Any = False
            if url.startswith("https"):
                import ssl

                verify = ssl.create_default_context()
            self.http[key] = httpx.Client(verify=verify, timeout=httpx.Timeout(self.read, connect=self.connect))
        return self.http[key]

    def close(self) -> None:
        for client in self.http.values():
            client.close()
        if self.pg is not None:
            self.pg.close()
        for client in self.redis.values():
            client.close()


def fire(probe: dict[str, Any], conns: Connections) -> bool:
    """Send one probe; True when it got an answer (the answer itself is not judged)."""
    kind = probe["kind"]
    try:
        if kind == "http":
            client = conns.http_client(probe["client"], probe["url"])
            body = probe["body"].encode() if probe["body"] else None
            response = client.request(probe["method"], probe["url"], headers=probe["headers"], content=body)
            response.read()
        elif kind == "pg-connect":
            import psycopg

            if conns.pg is None:
                conns.pg = psycopg.connect(probe["dsn"], connect_timeout=max(2, int(conns.connect + 0.999)),
                                           autocommit=True, application_name=probe["application_name"],
                                           options=probe["options"])
        elif kind == "sql":
            if conns.pg is not None:
                conns.pg.execute(probe["sql"].encode()).fetchall()
        elif kind == "redis":
            url = probe["url"]
            if url not in conns.redis:
                import redis

                pool = redis.ConnectionPool.from_url(url, socket_connect_timeout=conns.connect,
                                                     socket_timeout=conns.read, decode_responses=True,
                                                     driver_info=None)
                conns.redis[url] = redis.Redis(connection_pool=pool)
            conns.redis[url].execute_command(*probe["args"])
        elif kind == "local":
            local(probe, conns.read)
    except Exception:
        if kind == "pg-connect":
            conns.pg = None
        return False
    return True


def local(probe: dict[str, Any], timeout: float) -> None:
    op = probe["op"]
    if op == "statvfs":
        os.statvfs(probe["path"])
    elif op == "walk":
        for _root, _dirs, files in os.walk(probe["path"]):
            for name in files:
                with contextlib.suppress(OSError):
                    os.lstat(os.path.join(_root, name))
    elif op == "glob":
        for relative in glob.iglob(probe["pattern"], root_dir=probe["path"]):
            os.stat(os.path.join(probe["path"], relative))
    elif op == "verify":
        if probe["how"] == "gzip":
            with gzip.open(probe["path"], "rb") as stream:
                while stream.read(1 << 20):
                    pass
        elif probe["how"] == "tar":
            with tarfile.open(probe["path"], mode="r|*") as archive:
                for member in archive:
                    body = archive.extractfile(member) if member.isfile() else None
                    while body is not None and body.read(1 << 20):
                        pass
        else:
            with open(probe["path"], "rb") as stream:
                stream.read(9)
    elif op == "command":
        subprocess.run(probe["argv"], capture_output=True, timeout=timeout, check=False)


def plan(probes: list[dict[str, Any]]) -> OrderedDict[str, list[list[dict[str, Any]]]]:
    """Target → its checks in run order → each check's probes in the order they were sent."""
    targets: OrderedDict[str, OrderedDict[str, list[dict[str, Any]]]] = OrderedDict()
    for probe in probes:
        target = probe.get("target") or "?"
        targets.setdefault(target, OrderedDict()).setdefault(probe.get("item") or "?", []).append(probe)
    return OrderedDict((t, list(items.values())) for t, items in targets.items())


def run_target(checks: list[list[dict[str, Any]]], timeouts: dict[str, float]) -> tuple[int, int]:
    conns = Connections(timeouts)
    sent = answered = 0
    try:
        for probes in checks:
            threads = len({p["thread"] for p in probes})
            if threads <= 1:
                results = [fire(p, conns) for p in probes]
            else:
                # the check sampled concurrently (latency percentiles): keep its fan-out, and its connections
                with ThreadPoolExecutor(max_workers=threads) as pool:
                    results = list(pool.map(lambda p: fire(p, conns), probes))
            sent += len(results)
            answered += sum(results)
    finally:
        conns.close()
    return sent, answered


def _peak_rss_mb() -> float:
    """VmHWM: this process's own high-water mark (ru_maxrss would include the parent's size at fork)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.splitlines()[0])
    parser.add_argument("probes")
    parser.add_argument("--mode", choices=("concurrent", "sequential"), default="concurrent")
    parser.add_argument("--max-threads", type=int, default=64)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with open(args.probes) as stream:
        recorded = json.load(stream)
    work = plan(recorded["probes"])
    timeouts = recorded.get("targets", {})
    jobs = [(checks, timeouts.get(target, {})) for target, checks in work.items()]
    if args.mode == "sequential":
        counts = [run_target(c, t) for c, t in jobs]
    else:
        with ThreadPoolExecutor(max_workers=max(1, min(args.max_threads, len(jobs)))) as pool:
            counts = list(pool.map(lambda job: run_target(*job), jobs))
    print(json.dumps({"targets": len(jobs), "probes": sum(c[0] for c in counts),
                      "answered": sum(c[1] for c in counts), "seconds": time.perf_counter() - started,
                      "peak_rss_mb": _peak_rss_mb()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
