"""PostgreSQL restore drill: newest dump → throwaway server of the same major version → timed restore →
row counts of the listed tables."""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthgate.data_safety import fingerprints
from healthgate.data_safety.restore_drill import containers
from healthgate.data_safety.restore_drill.backup_file import (
    DrillError,
    Prepared,
    newest,
    prepare_dump,
    referenced_roles,
)
from healthgate.data_safety.settings import PostgresDrill
from healthgate.errors import CheckError
from healthgate.targets.base import Target, Timeouts

PORT = 5432
USER = "drill"
DATABASE = "restore_drill"
IN_CONTAINER = "/tmp/healthgate-drill-dump"
OUTPUT_TAIL = 1500
_DUMPED_FROM_CUSTOM = re.compile(r"Dumped from database version: (\d+)(?:\.(\d+))?")


@dataclass
class PostgresDrillResult:
    backup: Path
    format: str
    compressed: bool
    size: int
    source_major: int | None
    server_version_num: int
    image: str
    start_seconds: float
    decompress_seconds: float
    copy_seconds: float
    load_seconds: float
    counts: dict[str, Any] = field(default_factory=dict)

    @property
    def restore_seconds(self) -> float:
        """What a recovery would wait for: decompressing, moving the dump to the server, loading it."""
        return self.decompress_seconds + self.copy_seconds + self.load_seconds


def run_drill(spec: PostgresDrill, *, timeouts: Timeouts) -> PostgresDrillResult:
    backup = newest(spec.backups_glob)
    image = containers.image_ref(spec.image, "postgres")
    with tempfile.TemporaryDirectory(prefix="healthgate-drill-") as workdir:
        prepared = prepare_dump(backup, Path(workdir))
        password = secrets.token_urlsafe(16)
        started = time.monotonic()
        env = {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": password, "POSTGRES_DB": DATABASE}
        with containers.throwaway(image, PORT, env=env) as container:
            # The throwaway server is read through the same client as a production one; what the restore writes,
            # psql, pg_restore and createuser write inside the container.
            restored = _target(container, password, Timeouts(connect=timeouts.connect, read=spec.restore_timeout))
            try:
                containers.wait_until(lambda: _answers(restored), timeout_s=spec.start_timeout,
                                      container=container, what=f"throwaway PostgreSQL ({image})")
                start_seconds = time.monotonic() - started
                server_version = restored.client.server().version_num
                copy_started = time.monotonic()
                containers.put_file(container, prepared.restorable, IN_CONTAINER)
                copy_seconds = time.monotonic() - copy_started
                source_major = prepared.source_major or _custom_major(container, prepared)
                _same_major(backup, source_major, server_version, image)
                if prepared.format == "sql":
                    _create_roles(container, restored, referenced_roles(prepared.restorable), prepared)
                load_seconds = _load(container, prepared, spec)
                counts = fingerprints.postgres_rows(restored, spec.tables)
            finally:
                restored.close()
    return PostgresDrillResult(
        backup=backup, format=prepared.format, compressed=prepared.compressed, size=prepared.size,
        source_major=source_major, server_version_num=server_version, image=image, start_seconds=start_seconds,
        decompress_seconds=prepared.decompress_seconds, copy_seconds=copy_seconds, load_seconds=load_seconds,
        counts=counts,
    )


def _target(container: Any, password: str, timeouts: Timeouts) -> Target[Any, Any]:
    from healthgate.targets.postgres.settings import Settings

    dsn = f"postgresql://{USER}:{password}@{containers.LOOPBACK}:{containers.host_port(container, PORT)}/{DATABASE}"
    return Target("postgres", "restore-drill", Settings(dsn=dsn), timeouts)


def _answers(restored: Target[Any, Any]) -> bool:
    # The image's entrypoint runs its init scripts on a socket-only server; a TCP answer is the final server.
    # A refused connection must not mark the throwaway down for good: forget it before the next attempt.
    try:
        return restored.client.server().version_num > 0
    finally:
        restored.reset()


def _custom_major(container: Any, prepared: Prepared) -> int | None:
    """The source version a custom-format dump records in its header (read by pg_restore --list)."""
    if prepared.format != "custom":
        return None
    code, output = containers.run(container, ["pg_restore", "--list", IN_CONTAINER], timeout_s=120)
    if code != 0:
        raise DrillError(prepared.source, "read dump header", f"pg_restore --list exited with {code}: "
                                                             f"{output.strip()[-OUTPUT_TAIL:]}",
                         hint="the custom-format dump is truncated or corrupt")
    match = _DUMPED_FROM_CUSTOM.search(output)
    if match is None:
        return None
    major = int(match.group(1))
    return major if major >= 10 else major * 10 + int(match.group(2) or 0)


def _same_major(backup: Path, source_major: int | None, server_version_num: int, image: str) -> None:
    server_major = server_version_num // 10000
    if source_major is not None and source_major != server_major:
        raise DrillError(backup, "version", f"the dump comes from PostgreSQL {source_major}, the throwaway server "
                                            f"({image}) runs {server_major}",
                         hint=f"set data_safety.restore_drill.postgres.<name>.image to a PostgreSQL "
                              f"{source_major} image, or HEALTHGATE_IMAGE_POSTGRES")


def _create_roles(container: Any, restored: Target[Any, Any], roles: list[str], prepared: Prepared) -> None:
    """Roles the plain dump grants to or sets as owners, so its GRANT and ALTER OWNER statements restore."""
    for role in roles:
        if restored.client.role_exists(role):
            continue
        # createuser quotes the name itself: nothing of the dump reaches a SQL string.
        code, output = containers.run(container, ["createuser", "--no-login", "-U", USER, role], timeout_s=60)
        if code != 0:
            raise DrillError(prepared.source, "create roles", f"createuser {role} exited with {code}: "
                                                              f"{output.strip()[-OUTPUT_TAIL:]}")


def _load(container: Any, prepared: Prepared, spec: PostgresDrill) -> float:
    if prepared.format == "sql":
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", USER, "-d", DATABASE, "-f", IN_CONTAINER]
        tool = "psql"
    else:
        command = ["pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", "-U", USER, "-d", DATABASE,
                   IN_CONTAINER]
        tool = "pg_restore"
    started = time.monotonic()
    try:
        code, output = containers.run(container, command, timeout_s=spec.restore_timeout)
    except TimeoutError as exc:
        raise DrillError(prepared.source, "restore", str(exc), hint="raise restore_timeout or check the dump") from None
    except CheckError as exc:
        raise DrillError(prepared.source, "restore", str(exc)) from None
    seconds = time.monotonic() - started
    if code != 0:
        tail = output.strip()[-OUTPUT_TAIL:] or "(no output)"
        raise DrillError(prepared.source, "restore", f"{tool} exited with {code} after {seconds:.1f} s:\n{tail}",
                         hint="the dump does not restore: fix the backup job before it is needed")
    return seconds
