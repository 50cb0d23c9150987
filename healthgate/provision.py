"""Profiles that bring their own targets: ``provision: reference-stack`` starts the Docker stack for the run.

The stack starts once, in the process that runs the session (the xdist controller), before the profile is
interpolated, because the profile's addresses come from the stack's ``STACK_*`` variables.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from healthgate.errors import ProfileError

PROVISIONERS = ("reference-stack",)
PLACEHOLDER = "unprovisioned"


def requested(profile_path: Path) -> str | None:
    """The ``provision`` value of a profile (after ``extends``), read without interpolating anything."""
    from healthgate.profile import _load_chain, _merge

    merged: dict[str, Any] = {}
    for source in _load_chain(profile_path):
        merged = _merge(merged, source.data)
    value = merged.get("provision")
    if value is not None and value not in PROVISIONERS:
        raise ProfileError(f"{value!r} is not a known provisioner", file=str(profile_path), path=("provision",),
                           hint=f"use one of: {', '.join(PROVISIONERS)}, or remove the key")
    return value


def placeholder_environ(prefix: str = "STACK_") -> dict[str, str]:
    """Environment for loading a provisioned profile without starting anything (collect-only, validate, list)."""

    class _Placeholders(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            if key in self:
                return self[key]
            return _placeholder_for(key) if key.startswith(prefix) else default

    return _Placeholders(os.environ)


def _placeholder_for(name: str) -> str:
    """A value of the right shape, so validation of a not-yet-provisioned profile tests everything but the address."""
    if name.endswith("_DSN"):
        return f"postgresql://{PLACEHOLDER}.invalid/{PLACEHOLDER}"
    if name.endswith("_URL"):
        return f"redis://{PLACEHOLDER}.invalid:6379/0" if "REDIS" in name else f"http://{PLACEHOLDER}.invalid"
    if name.endswith("_DIR"):
        return f"/nonexistent/{PLACEHOLDER}"
    if name.endswith("_PORT"):
        return "1"
    return PLACEHOLDER


def start(kind: str) -> tuple[dict[str, str], Callable[[], None]]:
    """Start what ``kind`` names; return its environment and the function that tears it down."""
    if kind != "reference-stack":  # pragma: no cover - guarded by requested()
        raise ValueError(kind)
    import shutil
    import tempfile
    from pathlib import Path

    from healthgate.stack.demo_data import make_backup_set, make_log_dir, seed_opensearch
    from healthgate.stack.stack import Stack

    stack = Stack()
    files = Path(tempfile.mkdtemp(prefix="healthgate-demo-"))

    def stop() -> None:
        try:
            stack.stop()
        finally:
            shutil.rmtree(files, ignore_errors=True)

    try:
        stack.start()
        make_backup_set(stack, files / "backups")
        make_log_dir(files / "logs")
        seed_opensearch(stack)
    except BaseException:
        stop()
        raise
    env = stack.env() | {"STACK_BACKUP_DIR": str(files / "backups"), "STACK_LOG_DIR": str(files / "logs")}
    return env, stop
