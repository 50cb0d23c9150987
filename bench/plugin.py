"""pytest plugin loaded into every measured run (``-p bench.plugin``): stage timings and, on request, the probes.

Timings (start-up, collection, run) go to ``$BENCH_STAGE_DIR/<worker>.json``. With ``$BENCH_RECORD=1`` every
probe the run sends (HTTP requests, SQL statements, Redis commands, local file-system and command probes) is
recorded with the item and thread that sent it, so the baselines can replay exactly the same work
(see ``bench.replay`` and ``bench.shell``). Recording costs a few microseconds per probe.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

_IMPORTED_AT = time.time()
_stages: dict[str, Any] = {"imported_at": _IMPORTED_AT}
_probes: list[dict[str, Any]] = []
_targets: dict[str, dict[str, Any]] = {}
_current: dict[str, Any] = {"item": None, "target": None}
_lock = threading.Lock()


def peak_rss_mb() -> float:
    """High-water RSS of this process since its exec. ``getrusage`` would not do: on Linux a forked child's
    ru_maxrss starts at its parent's, so every run would report at least the benchmark driver's size."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _add(kind: str, probe: dict[str, Any]) -> None:
    with _lock:
        _probes.append({"item": _current["item"], "target": _current["target"], "kind": kind,
                        "thread": threading.get_ident(), "t": time.perf_counter(), **probe})


# ------------------------------------------------------------------------------------------------ recording

def _patch_http() -> None:
    import httpx

    send = httpx.Client.send
    skipped = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}

    def recording_send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> Any:
        content = request.content.decode("utf-8", "replace") if request.content else ""
        _add("http", {"client": id(self), "method": request.method, "url": str(request.url),
                      "headers": {k: v for k, v in request.headers.items() if k.lower() not in skipped},
                      "body": content})
        return send(self, request, **kwargs)

    httpx.Client.send = recording_send  # type: ignore[method-assign]


def _patch_postgres() -> None:
    import psycopg

    from healthgate.targets.postgres import client as pg

    connect = pg.Client._connect
    execute = psycopg.Connection.execute

    def recording_connect(self: pg.Client) -> Any:
        parts = pg.dsn_parts(self.settings.dsn)
        _add("pg-connect", {"dsn": self.settings.dsn,
                            "options": pg.session_options(self.timeouts.read, parts.get("options", "")),
                            "application_name": pg.APPLICATION_NAME})
        return connect(self)

    def recording_execute(self: psycopg.Connection[Any], query: Any, params: Any = None, **kwargs: Any) -> Any:
        try:
            text = psycopg.ClientCursor(self).mogrify(query, params)
        except Exception:  # a statement we cannot render still runs; the baselines just miss it
            text = ""
        if text:
            _add("sql", {"sql": text})
        return execute(self, query, params, **kwargs)

    pg.Client._connect = recording_connect  # type: ignore[method-assign]
    psycopg.Connection.execute = recording_execute  # type: ignore[method-assign]


def _patch_redis() -> None:
    from healthgate.targets.redis import client as rd

    call = rd.Client._call

    def recording_call(self: rd.Client, *args: Any) -> Any:
        _add("redis", {"url": self.settings.url, "args": [str(a) for a in args]})
        return call(self, *args)

    rd.Client._call = recording_call  # type: ignore[method-assign]


def _patch_local() -> None:
    from healthgate.targets.backups import client as backups
    from healthgate.targets.disk import client as disk
    from healthgate.targets.gpu import client as gpu

    usage = disk.Client.usage
    scan_logs = disk.Client.scan_logs
    artifacts = backups.Client.artifacts
    verify = backups.Client.verify
    query = gpu.Client.query

    def rec_usage(self: Any, path: str) -> Any:
        _add("local", {"op": "statvfs", "path": path})
        return usage(self, path)

    def rec_scan_logs(self: Any, log_dir: Any, **kwargs: Any) -> Any:
        _add("local", {"op": "walk", "path": log_dir.path, "pattern": log_dir.pattern})
        return scan_logs(self, log_dir, **kwargs)

    def rec_artifacts(self: Any, pattern: Any) -> Any:
        _add("local", {"op": "glob", "path": self.settings.dir, "pattern": pattern.glob, "dir": pattern.kind == "dir"})
        return artifacts(self, pattern)

    def rec_verify(self: Any, artifact: Any, how: str) -> Any:
        _add("local", {"op": "verify", "path": artifact.path, "how": how})
        return verify(self, artifact, how)

    def rec_query(self: Any) -> Any:
        _add("local", {"op": "command", "argv": [self.settings.command, *gpu.QUERY_ARGS]})
        return query(self)

    disk.Client.usage = rec_usage  # type: ignore[method-assign]
    disk.Client.scan_logs = rec_scan_logs  # type: ignore[method-assign]
    backups.Client.artifacts = rec_artifacts  # type: ignore[method-assign]
    backups.Client.verify = rec_verify  # type: ignore[method-assign]
    gpu.Client.query = rec_query  # type: ignore[method-assign]


def _recording() -> bool:
    return os.environ.get("BENCH_RECORD") == "1"


# ------------------------------------------------------------------------------------------------ hooks

def pytest_configure(config: pytest.Config) -> None:
    _stages["configured_at"] = time.time()
    if _recording():
        _patch_http()
        _patch_postgres()
        _patch_redis()
        _patch_local()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection(session: pytest.Session) -> Any:
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        _stages["collect_s"] = time.perf_counter() - started
        _stages["items"] = len(getattr(session, "items", []))
        _stages["run_start"] = time.perf_counter()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    from healthgate.run_state import ITEM

    info = item.stash.get(ITEM, None)
    _current["item"] = item.nodeid
    _current["target"] = info.target.id if info is not None else None
    if info is not None and _recording() and info.target.id not in _targets:
        _targets[info.target.id] = {"kind": info.kind, "connect": info.target.timeouts.connect,
                                    "read": info.target.timeouts.read}
    try:
        return (yield)
    finally:
        _current["item"] = _current["target"] = None


def pytest_sessionfinish(session: pytest.Session) -> None:
    directory = os.environ.get("BENCH_STAGE_DIR")
    if not directory:
        return
    if "run_start" in _stages:
        _stages["run_s"] = time.perf_counter() - _stages["run_start"]
    _stages["finished_at"] = time.time()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    name = f"{_worker()}-{os.getpid()}"
    _stages["worker"] = _worker()
    _stages["peak_rss_mb"] = peak_rss_mb()
    stages = {k: v for k, v in _stages.items() if k not in ("collect_start", "run_start")}
    (out / f"{name}.stages.json").write_text(json.dumps(stages))
    if _recording():
        with (out / f"{name}.probes.json").open("w") as stream:
            json.dump({"targets": _targets, "probes": _probes}, stream)
