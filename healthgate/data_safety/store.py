"""The baseline file: one JSON document per run of ``--baseline-save``, written atomically, read strictly.

Every way the file can be unusable is a ``BaselineFileError`` naming the file and the step that failed (read,
parse, validate, profile), so a post-deploy run never passes on a baseline it could not use.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthgate.errors import CheckError

FORMAT = 1
KIND = "healthgate-baseline"


class BaselineFileError(CheckError):
    """The baseline file could not be used; the message names the file and the step."""

    category = "baseline file"

    def __init__(self, path: str | Path, step: str, problem: str, *, hint: str = "") -> None:
        self.path = str(path)
        self.step = step
        self.problem = problem
        super().__init__(f"baseline file {self.path}: {step}: {problem}", hint=hint)


@dataclass(frozen=True)
class BaselineFile:
    path: str
    profile: str
    taken_at: str
    targets: dict[str, dict[str, Any]]

    def target(self, target_id: str) -> dict[str, Any]:
        if target_id not in self.targets:
            recorded = ", ".join(sorted(self.targets)) or "none"
            raise BaselineFileError(self.path, "lookup", f"no fingerprint of {target_id} (recorded: {recorded})",
                                    hint="the target was added or configured after the baseline was saved: "
                                         "run the pre_deploy baseline again")
        return self.targets[target_id]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def save(path: str | Path, *, profile: str, targets: dict[str, dict[str, Any]], taken_at: str | None = None) -> Path:
    """Write the file atomically: a reader sees the previous baseline or the new one, never half of one."""
    target_path = Path(path)
    document = {"kind": KIND, "format": FORMAT, "profile": profile, "taken_at": taken_at or now_iso(),
                "targets": dict(sorted(targets.items()))}
    text = json.dumps(document, indent=2, sort_keys=False) + "\n"
    target_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target_path.name}.", suffix=".tmp", dir=target_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target_path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target_path


def load(path: str | Path, *, profile: str) -> BaselineFile:
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineFileError(shown, "read", "no such file",
                                hint="save one before the deploy: pytest -m pre_deploy --baseline-save PATH") from None
    except OSError as exc:
        raise BaselineFileError(shown, "read", exc.strerror or str(exc)) from None
    except UnicodeDecodeError:
        raise BaselineFileError(shown, "parse", "not UTF-8 text (corrupt or not a baseline file)") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineFileError(shown, "parse", f"not valid JSON at line {exc.lineno} column {exc.colno}: "
                                                f"{exc.msg} (truncated or corrupt?)") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise BaselineFileError(shown, "validate", f"not a healthgate baseline (no \"kind\": \"{KIND}\")")
    if document.get("format") != FORMAT:
        raise BaselineFileError(shown, "validate", f"format {document.get('format')!r} is not supported "
                                                   f"(this version reads format {FORMAT})")
    targets = document.get("targets")
    if not isinstance(targets, dict) or not all(isinstance(v, dict) for v in targets.values()):
        raise BaselineFileError(shown, "validate", "\"targets\" is not a mapping of target id to fingerprint")
    if not isinstance(document.get("profile"), str) or not isinstance(document.get("taken_at"), str):
        raise BaselineFileError(shown, "validate", "\"profile\" and \"taken_at\" must be strings")
    if document["profile"] != profile:
        raise BaselineFileError(shown, "profile", f"saved for profile {document['profile']!r}, this run checks "
                                                  f"{profile!r}", hint="pass the baseline saved with this profile")
    return BaselineFile(path=shown, profile=document["profile"], taken_at=document["taken_at"], targets=targets)
