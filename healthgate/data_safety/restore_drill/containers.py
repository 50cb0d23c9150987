"""Throwaway servers for the drill: started with testcontainers, published on loopback only, removed always.

Without a Docker daemon the drill cannot run at all: that is a ``CheckError`` (broken), never a pass or a skip.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from healthgate.errors import CheckError

LOOPBACK = "127.0.0.1"
LOG_TAIL_LINES = 20
_TESTCONTAINERS_ENV = {"TESTCONTAINERS_RYUK_DISABLED": "true", "TESTCONTAINERS_HOST_OVERRIDE": LOOPBACK}


def require_docker() -> Any:
    """A docker SDK client of a reachable daemon, or CheckError saying how to get one."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except ImportError:
        raise CheckError("the restore drill needs the docker and testcontainers packages",
                         hint="pip install 'healthgate[stack]'") from None
    except Exception as exc:
        raise CheckError(f"the restore drill needs a Docker daemon; none reachable at {where}: {exc}",
                         hint="start one (`dockerd &` as root) or set DOCKER_HOST") from None
    return client


def image_ref(configured: str | None, component: str) -> str:
    if configured:
        return configured
    from healthgate.stack.images import resolve_image

    return resolve_image(component)


@contextlib.contextmanager
def throwaway(image: str, port: int, *, env: dict[str, str] | None = None, command: list[str] | None = None,
              files: Sequence[tuple[Path, str]] = ()) -> Iterator[Any]:
    """A started container of ``image`` with ``port`` published on loopback; removed on exit, whatever happened.

    ``files`` are copied in before the server starts (a Redis dump must be in place before redis-server reads)."""
    for key, value in _TESTCONTAINERS_ENV.items():
        os.environ.setdefault(key, value)
    from docker.errors import DockerException
    from testcontainers.core.container import DockerContainer

    client = require_docker()
    if not client.images.list(name=image):
        raise CheckError(f"image {image} is not on this machine",
                         hint="build it (python -m healthgate.stack.images build postgres redis), pull it, or set "
                              "image: in data_safety.restore_drill")
    container = DockerContainer(image).with_kwargs(labels={"org.healthgate.data_safety.restore_drill": "true"})
    container.ports[f"{port}/tcp"] = (LOOPBACK, None)  # type: ignore[assignment]  # loopback only
    for key, value in (env or {}).items():
        container.with_env(key, value)
    if command:
        container.with_command(command)
    for source, destination in files:
        container.with_copy_into_container(source, destination)
    try:
        container.start()
    except DockerException as exc:
        with contextlib.suppress(Exception):
            container.stop()
        raise CheckError(f"Docker could not start {image}: {exc}") from None
    try:
        yield container
    finally:
        with contextlib.suppress(Exception):
            container.stop()


def host_port(container: Any, port: int) -> int:
    """The published port; a server that exited at once (e.g. refusing its data file) has none."""
    try:
        return int(container.get_exposed_port(port))
    except Exception as exc:
        raise CheckError(f"no published port {port}: {exc}; the container is "
                         f"{'running' if is_running(container) else 'gone'}; last log lines:\n"
                         f"{log_tail(container)}") from None


def is_running(container: Any) -> bool:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    return wrapped.status not in ("exited", "dead")


def log_tail(container: Any, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return bytes(container.get_wrapped_container().logs(tail=lines)).decode(errors="replace").rstrip()
    except Exception as exc:
        return f"(logs unavailable: {exc})"


def put_file(container: Any, source: Path, destination: str) -> None:
    """Copy a file of any size into a running container: tar on disk, streamed, never held in memory."""
    with tempfile.TemporaryFile() as archive:
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tar.gettarinfo(str(source), arcname=destination.lstrip("/"))
            info.mode, info.uid, info.gid, info.uname, info.gname = 0o644, 0, 0, "root", "root"
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        archive.seek(0)
        if not container.get_wrapped_container().put_archive("/", archive):
            raise CheckError(f"could not copy {source} into the drill container")


def run(container: Any, command: list[str], *, timeout_s: float) -> tuple[int, str]:
    """Run a command in the container; (exit code, output). Stops waiting, and kills the container, after
    ``timeout_s`` so a restore that hangs cannot hang the drill."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            done = container.get_wrapped_container().exec_run(command, demux=False)
            result["code"] = int(done.exit_code or 0)
            result["output"] = done.output.decode(errors="replace") if isinstance(done.output, bytes) else ""
        except Exception as exc:  # reported below as the command's failure
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        with contextlib.suppress(Exception):
            container.get_wrapped_container().kill()
        raise TimeoutError(f"{' '.join(command[:3])} still running after {timeout_s:.0f} s")
    if "error" in result:
        raise CheckError(f"docker exec {' '.join(command[:3])} failed: {result['error']}")
    return result["code"], result["output"]


def wait_until(probe: Any, *, timeout_s: float, container: Any, what: str) -> float:
    """Poll ``probe()`` until it returns truthy; seconds waited. Fails early when the container exits."""
    started = time.monotonic()
    last = ""
    while True:
        try:
            if probe():
                return time.monotonic() - started
        except Exception as exc:  # not ready yet
            last = f"{type(exc).__name__}: {exc}"
        if not is_running(container):
            raise CheckError(f"{what}: the container exited; last log lines:\n{log_tail(container)}")
        if time.monotonic() - started > timeout_s:
            raise CheckError(f"{what}: not ready within {timeout_s:.0f} s ({last})")
        time.sleep(0.25)
