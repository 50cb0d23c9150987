"""Redis restore drill: the newest RDB file loaded by a throwaway redis-server, timed, its keys counted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthgate.data_safety.restore_drill import containers
from healthgate.data_safety.restore_drill.backup_file import RDB_MAGIC, DrillError, newest, sniff
from healthgate.data_safety.settings import RedisDrill
from healthgate.errors import CheckError
from healthgate.targets.base import Target, Timeouts

PORT = 6379
IN_CONTAINER = "/data/dump.rdb"
# No saving, no AOF: the throwaway server must read the dump and never rewrite it.
COMMAND = ["redis-server", "--dir", "/data", "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no"]


@dataclass
class RedisDrillResult:
    backup: Path
    size: int
    image: str
    load_seconds: float
    keys_by_db: dict[int, int] = field(default_factory=dict)

    @property
    def restore_seconds(self) -> float:
        return self.load_seconds

    def keys(self, db: int) -> int:
        return self.keys_by_db.get(db, 0)


def run_drill(spec: RedisDrill, *, timeouts: Timeouts) -> RedisDrillResult:
    backup = newest(spec.rdb_glob)
    if not sniff(backup, 5).startswith(RDB_MAGIC):
        raise DrillError(backup, "detect format", "no REDIS magic at the start: not an RDB file",
                         hint="redis-cli --rdb FILE writes one; an AOF or a compressed copy cannot be loaded")
    image = containers.image_ref(spec.image, "redis")
    started = time.monotonic()
    try:
        # A server that exits at once (a corrupt RDB) may be gone before its port is published: that is a
        # failed load too, whichever step notices it.
        with containers.throwaway(image, PORT, command=COMMAND, files=[(backup, IN_CONTAINER)]) as container:
            keyspace = _load(container, backup, image, spec, timeouts)
    except CheckError as exc:
        raise DrillError(backup, "load", str(exc), hint="the RDB is corrupt, truncated, or from a newer "
                                                        "Redis than the image") from None
    return RedisDrillResult(backup=backup, size=backup.stat().st_size, image=image,
                            load_seconds=time.monotonic() - started, keys_by_db=_keys(keyspace))


def _load(container: Any, backup: Path, image: str, spec: RedisDrill, timeouts: Timeouts) -> dict[str, Any]:
    from healthgate.targets.redis.client import Client
    from healthgate.targets.redis.settings import Settings

    url = f"redis://{containers.LOOPBACK}:{containers.host_port(container, PORT)}/0"
    # Read through the same allow-listed client as a production server: PING and INFO are all it needs.
    loaded: Target[Settings, Client] = Target("redis", "restore-drill", Settings(url=url),
                                              Timeouts(connect=2.0, read=max(timeouts.read, 10.0)))
    try:
        containers.wait_until(lambda: _loaded(loaded), timeout_s=spec.start_timeout, container=container,
                              what=f"throwaway Redis ({image}) loading {backup.name}")
        return loaded.client.info("keyspace")
    finally:
        loaded.close()


def _loaded(loaded: Target[Any, Any]) -> bool:
    # While it loads, the server answers LOADING (could not check); forget that before the next attempt.
    try:
        return int(loaded.client.info("persistence").get("loading", 1)) == 0
    finally:
        if loaded.is_down:
            loaded.reset()


def _keys(keyspace: dict[str, Any]) -> dict[int, int]:
    found = {}
    for name, value in keyspace.items():
        if name.startswith("db") and isinstance(value, dict):
            found[int(name[2:])] = int(value.get("keys", 0))
    return found
