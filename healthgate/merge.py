"""``python -m healthgate merge``: the verdict of a run split into shards (``--shard=I/N``), from the shards'
``--summary-json`` files. Green only when every shard is there, once, from the same profile, phase and gate,
and every shard was green; a missing shard is a red gate, since its targets were not checked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from healthgate.vocabulary import COUNTED

COUNTS = (*COUNTED, "warnings_let_through")


class MergeError(Exception):
    """The files do not describe one sharded run; says which file and why."""


def merge(paths: list[Path]) -> dict[str, Any]:
    summaries = [_read(path) for path in paths]
    if not summaries:
        raise MergeError("no summary file given: pass every shard's --summary-json file")
    first = summaries[0]
    for path, summary in zip(paths, summaries, strict=True):
        for key in ("profile", "phase", "gate"):
            if summary.get(key) != first.get(key):
                raise MergeError(f"{path}: {key} {summary.get(key)!r} differs from {paths[0]}'s {first.get(key)!r}: "
                                 "these are not shards of one run")
    shards = [_shard(path, summary) for path, summary in zip(paths, summaries, strict=True)]
    count = shards[0][1]
    problems: list[str] = []
    if any(c != count for _, c in shards):
        raise MergeError(f"shards of different splits: {', '.join(f'{i}/{c}' for i, c in shards)}")
    seen = Counter(i for i, _ in shards)
    problems += [f"shard {i}/{count} given {n} times" for i, n in sorted(seen.items()) if n > 1]
    problems += [f"shard {i}/{count} missing: its targets were not checked" for i in range(1, count + 1)
                 if i not in seen]
    counts = {key: sum(int(s.get("counts", {}).get(key, 0)) for s in summaries) for key in COUNTS}
    statuses = [int(s.get("exit_status", 1)) for s in summaries]
    # a shard left with no target (more shards than targets) has nothing to say, not a failure
    bad = [status for status, s in zip(statuses, summaries, strict=True)
           if status != 0 and not (status == 5 and not any(s.get("counts", {}).get(k) for k in COUNTS))]
    checked = counts["passed"] + counts["failed"] + counts["broken"] + counts["waived"]
    if checked == 0:
        problems.append("no check ran in any shard")
    exit_status = 0 if not bad and not problems else next((s for s in bad if s not in (1, 5)), 1)
    return {
        "verdict": "pass" if exit_status == 0 else "fail",
        "gate": first.get("gate"),
        "exit_status": exit_status,
        "profile": first.get("profile"),
        "phase": first.get("phase"),
        "shards": f"{len(seen)} of {count}",
        "problems": problems,
        "counts": counts,
        "failed": [entry for s in summaries for entry in s.get("failed", [])],
        "waived": [entry for s in summaries for entry in s.get("waived", [])],
        "waivers": _merged_waivers(summaries),
        "waited": [entry for s in summaries for entry in s.get("waited", [])],
    }


def _merged_waivers(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every shard reports the same expired waivers (it read the same profile): keep one of each. A waiver covering
    several targets is no longer needed only if no shard still needed it (waived, or failed past its date)."""
    def reviewed(key: str) -> dict[int, dict[str, Any]]:
        return {int(e["index"]): e for s in summaries for e in s.get("waivers", {}).get(key, [])}

    still_needed = {int(e["waiver"]) for s in summaries for e in s.get("waived", [])}
    still_needed |= {int(i) for i in reviewed("expired")}
    failing = {(e.get("check"), e.get("target")) for s in summaries for e in s.get("failed", [])}
    unneeded = [e for i, e in sorted(reviewed("no_longer_needed").items()) if i not in still_needed
                and not any(check == e["check"] and e["target"] in (None, target) for check, target in failing)]
    return {"expired": [e for _, e in sorted(reviewed("expired").items())], "no_longer_needed": unneeded}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"{path}: cannot read it: {exc.strerror}") from None
    except ValueError as exc:
        raise MergeError(f"{path}: not JSON ({exc}): is it a --summary-json file?") from None
    if not isinstance(data, dict) or "verdict" not in data or "counts" not in data:
        raise MergeError(f"{path}: not a healthgate --summary-json file (no verdict and counts)")
    return data


def _shard(path: Path, summary: dict[str, Any]) -> tuple[int, int]:
    value = str(summary.get("shard") or "")
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit()):
        raise MergeError(f"{path}: not a shard's summary (run with --shard=I/N)")
    return int(index), int(count)


def lines(merged: dict[str, Any]) -> list[str]:
    counts = merged["counts"]
    out = [f"healthgate merge — profile {merged['profile']}, {merged['shards']} shard(s): "
           f"{counts['passed']} passed, {counts['failed']} failed, {counts['broken']} broken, "
           f"{counts['waived']} waived, {counts['skipped']} skipped"]
    out += [f"  {problem}" for problem in merged["problems"]]
    out += [f"  waived: {w['check']}[{w['target']}] until {w['until']}: {w['reason']}" for w in merged["waived"]]
    out += [f"  waiver expired: {e['problem']}" for e in merged["waivers"]["expired"]]
    out += [f"  warning: waiver no longer needed: {e['check']} on {e['target'] or 'every target'} ({e['where']})"
            for e in merged["waivers"]["no_longer_needed"]]
    for failed in merged["failed"]:
        if failed.get("blocking"):
            first_line = (str(failed.get("message") or "").splitlines() or [""])[0]
            out.append(f"  {failed['status']}: {failed['check']}[{failed['target']}] — {first_line}")
    verdict = "GATE GREEN" if merged["exit_status"] == 0 else "GATE RED"
    out.append(f"{verdict} ({merged['gate']} gate) across the shards")
    return out
