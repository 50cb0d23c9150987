"""CPU per HTTP request, by request path: what one request costs the gate's process before any waiting.

    python -m bench.requestcost PORT [--requests N]

Sequential GETs over one kept-alive connection to a loopback server that answers at once, so wall time is
mostly CPU: the engine's client (``healthgate.targets.http``: streamed body, body limit, whole-request deadline,
behind the target's down-marking guard), bare httpx (``Client.get``), and the standard library's
``http.client``. Prints one JSON line: CPU microseconds per request for each.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def _per_request(send: Callable[[], Any], requests: int) -> dict[str, float]:
    send()  # the first request connects (and imports lazily): not what a request costs
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        send()
    return {"cpu_us": round(1e6 * (time.process_time() - cpu) / requests, 1),
            "wall_us": round(1e6 * (time.perf_counter() - wall) / requests, 1)}


def measure(port: int, requests: int) -> dict[str, dict[str, float]]:
    import httpx

    from healthgate.targets.base import Target, Timeouts
    from healthgate.targets.http.settings import Settings

    url = f"http://127.0.0.1:{port}"
    target: Target[Any, Any] = Target("http", "cost", Settings(url=url), Timeouts())
    results = {"healthgate client": _per_request(lambda: target.client.get("/health"), requests)}
    target.close()

    with httpx.Client(base_url=url, timeout=httpx.Timeout(10.0, connect=3.0)) as client:
        results["httpx Client.get"] = _per_request(lambda: client.get("/health").read(), requests)

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10.0)

    def stdlib() -> bytes:
        connection.request("GET", "/health")
        return connection.getresponse().read()

    results["http.client"] = _per_request(stdlib, requests)
    connection.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.requestcost", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.port, max(1, min(args.requests, 100_000)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def scenario(sizes: Any, workdir: Any) -> list[dict[str, Any]]:
    """Runs this module against a one-port fleet that answers at once; one row per request path."""
    from bench import measure, servers

    with servers.http_fleet(1) as ports:
        done = measure.run([sys.executable, "-m", "bench.requestcost", str(ports[0]),
                            "--requests", str(sizes.request_cost_requests)], timeout=600)
    line = next((x for x in reversed(done.log.splitlines()) if x.startswith("{")), None)
    if line is None:
        raise RuntimeError(f"bench.requestcost printed no result:\n{done.log}")
    costs = json.loads(line)
    base = costs["httpx Client.get"]["cpu_us"]
    return [{"scenario": "requestcost", "case": path, "wall_s": round(cost["wall_us"] / 1e6, 6),
             "cpu_us": cost["cpu_us"], "wall_us": cost["wall_us"],
             "requests_per_cpu_s": round(1e6 / cost["cpu_us"]) if cost["cpu_us"] else None,
             "ratio_vs_httpx": round(cost["cpu_us"] / base, 2) if base else None,
             "requests": sizes.request_cost_requests}
            for path, cost in costs.items()]
