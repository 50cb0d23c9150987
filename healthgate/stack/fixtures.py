"""pytest plugin: one hermetic stack per test run, shared by pytest-xdist workers.

Without xdist the ``stack`` fixture starts the stack and removes it when the session ends.

With xdist the containers must start once, and not before a test needs them. The controller gives
every worker the same run directory; the first worker that needs the stack takes a file lock there,
starts it and writes its JSON description; the others wait on the lock and attach to it. Workers
never stop a shared stack: the controller removes it in ``pytest_unconfigure``, after every worker
has finished, even if the worker that started it crashed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthgate.stack.stack import Stack, StackError, stop_described

WORKERINPUT_KEY = "healthgate_stack_dir"
DESCRIPTION_FILE = "stack.json"
FAILURE_FILE = "stack.error"
LOCK_FILE = "stack.lock"
_RUN_DIR = pytest.StashKey[Path]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """xdist controller: hand every worker the run directory of the shared stack."""
    config: pytest.Config = node.config  # type: ignore[attr-defined]
    run_dir = config.stash.get(_RUN_DIR, None)
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="healthgate-stack-"))
        config.stash[_RUN_DIR] = run_dir
    node.workerinput[WORKERINPUT_KEY] = str(run_dir)  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    """xdist controller: remove the shared stack, if a worker started one."""
    run_dir = config.stash.get(_RUN_DIR, None)
    if run_dir is None:
        return
    description = run_dir / DESCRIPTION_FILE
    try:
        if description.exists():
            stop_described(description.read_text())
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The running hermetic stack. Fails (never skips) when it cannot be started."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput and WORKERINPUT_KEY in workerinput:
        yield _shared_stack(Path(workerinput[WORKERINPUT_KEY]))
        return
    own = Stack()
    failure = _start(own)
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def stack_env(stack: Stack) -> dict[str, str]:
    """``STACK_*`` variables of the running stack (read per test: a restart may refresh them)."""
    return stack.env()


def _shared_stack(run_dir: Path) -> Stack:
    description = run_dir / DESCRIPTION_FILE
    failure = run_dir / FAILURE_FILE
    with (run_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if failure.exists():
                # One failed start is reported by every worker, not retried by each.
                pytest.fail(failure.read_text(), pytrace=False)
            if not description.exists():
                _start_shared(description, failure)
            return Stack.attach(description.read_text())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start_shared(description: Path, failure: Path) -> None:
    stack = Stack()
    # Written before start so the controller can remove a half-started stack if this worker dies.
    _write_private(description, stack.to_json())
    try:
        message = _start(stack)
    except BaseException:
        with contextlib.suppress(OSError):
            description.unlink()
        raise
    if message:
        failure.write_text(message)
        description.unlink()
        pytest.fail(message, pytrace=False)
    _write_private(description, stack.to_json())


def _start(stack: Stack) -> str | None:
    """Start the stack; the StackError's message if it could not (start() already cleaned up)."""
    try:
        stack.start()
    except StackError as exc:
        return str(exc)
    return None


def _write_private(path: Path, text: str) -> None:
    """Atomic write readable by this user only: the description holds the stack's passwords."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
