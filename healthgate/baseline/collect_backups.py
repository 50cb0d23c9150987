"""Backups fingerprint: how many objects each backup pattern of a ``backups`` target matches.

Host-local and read-only: globbing only, bounded by the target's ``max_entries``.
"""

from __future__ import annotations

import glob
import itertools
import os
from typing import Any


def fingerprint(root: str, patterns: list[tuple[str, str]], *, max_entries: int = 10_000) -> dict[str, Any]:
    """``patterns``: (name, glob relative to root)."""
    counts: dict[str, Any] = {}
    for name, pattern in patterns:
        matches = list(itertools.islice(glob.iglob(os.path.join(root, pattern)), max_entries + 1))
        counts[name] = {"count": min(len(matches), max_entries), "complete": len(matches) <= max_entries}
    return {"root": root, "patterns": counts}
