"""Data the demo profile's checks look at, made from the running stack the way production makes it.

A backup set made the way NightScan's daily_backup.sh makes one, fresh application logs in OpenSearch (as
Fluent Bit ships them) and a snapshot in an fs repository (the AI runbook's backup procedure).

The demo profile's backup, disk and restore-drill checks need real backups to look at: a gzip'ed ``pg_dump``, a
``redis-cli --rdb`` snapshot, an application tarball and a configuration copy, under ``<root>/YYYYMMDD/``.
Dumps are made inside the containers (their own client tools, same versions as the servers) and copied out.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from healthgate.stack.components import POSTGRES_ADMIN_USER, POSTGRES_DB

_IN_CONTAINER = "/tmp/healthgate-backup"


def _copy_out(container: Any, path: str, destination: Path) -> None:
    stream, _ = container.get_archive(path)
    buffer = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=buffer) as archive:
        member = archive.getmembers()[0]
        extracted = archive.extractfile(member)
        if extracted is None:
            raise RuntimeError(f"{path} is not a regular file in the container")
        destination.write_bytes(extracted.read())


def _run(stack: Any, component: str, script: str) -> None:
    code, output = stack.exec(component, ["sh", "-c", script])
    if code != 0:
        raise RuntimeError(f"backup step in {component} failed ({code}): {output[-500:]}")


def make_backup_set(stack: Any, root: Path, *, day: str | None = None) -> Path:
    """Write ``root/<day>/{database.sql.gz, redis.rdb, app_files.tar.gz, config/}`` and return that folder."""
    day = day or time.strftime("%Y%m%d")
    target = root / day
    target.mkdir(parents=True, exist_ok=True)
    env = stack.env()

    _run(stack, "postgres", f"mkdir -p {_IN_CONTAINER} && pg_dump -U {POSTGRES_ADMIN_USER} {POSTGRES_DB} "
                            f"| gzip > {_IN_CONTAINER}/database.sql.gz")
    _copy_out(stack.docker_container("postgres"), f"{_IN_CONTAINER}/database.sql.gz", target / "database.sql.gz")

    _run(stack, "redis", f"mkdir -p {_IN_CONTAINER} && REDISCLI_AUTH='{env['STACK_REDIS_PASSWORD']}' "
                         f"redis-cli --rdb {_IN_CONTAINER}/redis.rdb >/dev/null")
    _copy_out(stack.docker_container("redis"), f"{_IN_CONTAINER}/redis.rdb", target / "redis.rdb")

    uploads = target / ".app_files"
    (uploads / "uploads").mkdir(parents=True, exist_ok=True)
    (uploads / "uploads" / "detection-0001.json").write_text('{"species": "owl", "confidence": 0.93}\n')
    with tarfile.open(target / "app_files.tar.gz", "w:gz") as archive:
        archive.add(uploads / "uploads", arcname="opt/nightscan/uploads")
    shutil.rmtree(uploads)

    config = target / "config"
    config.mkdir(exist_ok=True)
    (config / "production.json").write_text('{"environment": "demo", "log_level": "info"}\n')
    return target


def make_log_dir(root: Path) -> Path:
    """A fresh application log directory, as Fluent Bit would tail it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nightscan.log").write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + " INFO demo stack started\n")
    return root


def seed_opensearch(stack: Any, *, repository: str = "backup_repo") -> None:
    """Fresh ``ai-logs-*`` documents and one successful snapshot, as a healthy platform would have."""
    import datetime

    import httpx

    base = stack.opensearch_url()
    now = datetime.datetime.now(datetime.UTC)
    index = f"ai-logs-{now:%Y.%m.%d}"
    lines = []
    for i, level in enumerate(("info", "info", "warning", "info")):
        lines.append('{"index": {}}')
        lines.append(
            f'{{"@timestamp": "{now.isoformat()}", "level": "{level}", "service": "ai-app", '
            f'"event_type": "request", "message": "demo request {i}"}}'
        )
    with httpx.Client(base_url=base, timeout=30) as client:
        client.put(f"/{index}", json={"settings": {"number_of_replicas": 0}}).raise_for_status()
        client.post(f"/{index}/_bulk?refresh=true", content="\n".join(lines) + "\n",
                    headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
        client.put(f"/_snapshot/{repository}", json={
            "type": "fs", "settings": {"location": f"/usr/share/opensearch/snapshots/{repository}"}}).raise_for_status()
        client.put(f"/_snapshot/{repository}/demo-{now:%Y%m%d%H%M%S}?wait_for_completion=true").raise_for_status()
