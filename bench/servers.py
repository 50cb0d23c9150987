"""Real servers on loopback for the scenarios, started natively and always stopped (context managers).

PostgreSQL comes from the host's Debian binaries (initdb into a temporary directory, run as ``postgres``),
Redis from the host's ``redis-server``, HTTP fleets and black holes from ``bench.httpfleet``, the reference
application from ``healthgate.stack.refapp``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MONITOR_USER = "healthgate"
MONITOR_PASSWORD = "bench-monitor"


class ServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, seconds: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerError(f"nothing listens on 127.0.0.1:{port} after {seconds:g}s")


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Terminate a server we started (its own process group), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def _python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@contextlib.contextmanager
def http_fleet(count: int, *, blackhole: bool = False, delay: float = 0.0) -> Iterator[list[int]]:
    """``count`` ports served by one asyncio process (``bench.httpfleet``); ``delay`` seconds per answer."""
    args = [sys.executable, "-m", "bench.httpfleet", str(count), *(["--blackhole"] if blackhole else []),
            *(["--delay", repr(delay)] if delay else [])]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=_python_env(),
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise ServerError(f"bench.httpfleet exited with {proc.wait()}")
        yield [int(p) for p in json.loads(line)]
    finally:
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        stop(proc)


@contextlib.contextmanager
def refapp() -> Iterator[str]:
    """The reference application on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "healthgate.stack.refapp", "--host", "127.0.0.1", "--port",
                             str(port), "--log-level", "warning"], cwd=ROOT, env=_python_env(),
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, 20, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


# ------------------------------------------------------------------------------------------------ redis

@dataclass
class RedisServer:
    port: int
    databases: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


@contextlib.contextmanager
def redis_server(databases: int = 16, keys_per_db: int = 50) -> Iterator[RedisServer]:
    """A throw-away ``redis-server`` with ``databases`` databases, each holding a few cache keys."""
    if shutil.which("redis-server") is None:
        raise ServerError("redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                             "--save", "", "--appendonly", "no", "--databases", str(max(16, databases)),
                             "--maxmemory", "256mb", "--maxclients", "10000"],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, 10, proc)
        import redis

        for db in range(databases):
            with redis.Redis(port=port, db=db) as admin:
                pipe = admin.pipeline()
                for i in range(keys_per_db):
                    pipe.set(f"cache:{i}:expired" if i % 5 == 0 else f"cache:{i}:fresh", "x", ex=3600)
                pipe.execute()
        yield RedisServer(port, databases)
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ postgres

@dataclass
class PostgresServer:
    port: int
    databases: list[str] = field(default_factory=list)

    def dsn(self, db: str) -> str:
        return f"postgresql://{MONITOR_USER}:{MONITOR_PASSWORD}@127.0.0.1:{self.port}/{db}"


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServerError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the ``postgres`` system user when we are root: the server refuses to run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextlib.contextmanager
def postgres_server(databases: int = 1) -> Iterator[PostgresServer]:
    """A throw-away cluster (fsync off) with ``databases`` databases, a ``detections`` table in each, and a
    ``pg_monitor`` login for the checks."""
    bindir = _pg_bin()
    workdir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    port = free_port()
    log = workdir / "server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                     "--no-sync", "-E", "UTF8"]), check=True, stdout=subprocess.DEVNULL)
        server_args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(workdir),
                       "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=400",
                       "-c", "shared_preload_libraries=pg_stat_statements", "-c", "synchronous_commit=off",
                       "-c", "full_page_writes=off"]
        with log.open("wb") as out:
            proc = subprocess.Popen(_as_postgres(server_args), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        wait_port(port, 30, proc)
        names = [f"bench_{i}" for i in range(databases)]
        _provision(port, names)
        yield PostgresServer(port, names)
    finally:
        if proc is not None:
            stop(proc, grace=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _provision(port: int, names: list[str]) -> None:
    import psycopg

    def connect(db: str) -> psycopg.Connection:
        deadline = time.monotonic() + 20
        while True:
            try:
                return psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/{db}", autocommit=True)
            except psycopg.OperationalError:  # still starting up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    # template1 carries the table and the extension into every bench database: one CREATE DATABASE each
    with connect("template1") as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE TABLE detections (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), label text)")
        conn.execute("INSERT INTO detections (label) SELECT 'bird' FROM generate_series(1, 1000)")
        conn.execute("VACUUM ANALYZE detections")
    with connect("postgres") as conn:
        conn.execute(f"CREATE ROLE {MONITOR_USER} LOGIN PASSWORD '{MONITOR_PASSWORD}' IN ROLE pg_monitor")
        for name in names:
            conn.execute(f"CREATE DATABASE {name}")
