"""End-of-run outputs: the terminal summary people read, and the JSON / metrics files pipelines and cron read."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from healthgate import __version__
from healthgate.gate import Verdict
from healthgate.redact import redact


def terminal_lines(state: Any, verdict: Verdict, *, allow_empty: bool = False, markexpr: str = "") -> list[str]:
    """Counts by phase and kind, the warnings let through, and the verdict. A check is counted under the
    phase(s) the ``-m`` expression selected it for, so a ``-m daily`` run reads as one block."""
    from healthgate.allure_results import phase_suite

    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for result in state.results:
        bucket = counts[(phase_suite(result.phase.split(","), markexpr), result.kind)]
        status = result.status
        if status in ("failed", "broken") and result in verdict.let_through:
            status = "warning"
        bucket[status] += 1
    profile = state.profile.name if state.profile else "-"
    lines = [f"healthgate summary — profile {profile}"]
    width = max([len(phase) for phase, _ in counts] + [8])
    if counts:
        lines.append(f"  {'phase(s)':<{width}} {'kind':<13} {'passed':>6} {'failed':>6} {'broken':>6} "
                     f"{'warning':>7} {'skipped':>7}")
    for (phase, kind), bucket in sorted(counts.items()):
        lines.append(f"  {phase:<{width}} {kind:<13} {bucket['passed']:>6} {bucket['failed']:>6} "
                     f"{bucket['broken']:>6} {bucket['warning']:>7} {bucket['skipped']:>7}")
    for result in verdict.let_through:
        lines.append(f"  warning let through: {result.check}[{result.target}] — {result.message.splitlines()[0]}")
    for result in state.results:
        if result.waited:
            lines.append(f"  waited: {result.check}[{result.target}] {result.waited}")
    if verdict.total == 0 and allow_empty:
        lines.append("GATE GREEN: no check selected, allowed by --allow-empty")
    else:
        lines.append(verdict.line())
    return lines


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader (or an overlapping run) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary_dict(state: Any, verdict: Verdict, exitstatus: int, *, markexpr: str = "",
                 shard: str | None = None) -> dict[str, Any]:
    counts = Counter(r.status for r in state.results)
    return {
        "verdict": "pass" if exitstatus == 0 else "fail",
        "gate": verdict.gate,
        "exit_status": exitstatus,
        "profile": state.profile.name if state.profile else None,
        "phase": markexpr or None,
        "shard": shard,
        "healthgate_version": __version__,
        "started_at": state.started,
        "duration_s": round(time.time() - state.started, 3),
        "counts": {s: counts.get(s, 0) for s in ("passed", "failed", "broken", "skipped")}
        | {"warnings_let_through": len(verdict.let_through)},
        "failed": [
            {
                "check": r.check, "target": r.target, "kind": r.kind, "phase": r.phase, "severity": r.severity,
                "status": r.status, "blocking": r in verdict.blocking, "message": redact(r.message),
                "observed": redact(r.observed), "expected": redact(r.expected), "runbook": r.runbook,
            }
            for r in state.results if r.status in ("failed", "broken")
        ],
        "waited": [{"check": r.check, "target": r.target, "status": r.status, "waited": r.waited}
                   for r in state.results if r.waited],
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def metrics_text(state: Any, verdict: Verdict, exitstatus: int) -> str:
    lines = [
        "# HELP healthgate_check_success 1 if the check passed in the last run, 0 if it failed or could not check.",
        "# TYPE healthgate_check_success gauge",
    ]
    for r in sorted(state.results, key=lambda r: (r.check, r.target)):
        if r.status == "skipped":
            continue
        labels = (f'check="{_label(r.check)}",target="{_label(r.target)}",phase="{_label(r.phase)}",'
                  f'severity="{r.severity}"')
        lines.append(f"healthgate_check_success{{{labels}}} {1 if r.status == 'passed' else 0}")
    profile = _label(state.profile.name if state.profile else "")
    lines += [
        "# HELP healthgate_run_timestamp_seconds When the last run finished.",
        "# TYPE healthgate_run_timestamp_seconds gauge",
        f'healthgate_run_timestamp_seconds{{profile="{profile}"}} {time.time():.3f}',
        "# HELP healthgate_run_duration_seconds How long the last run took.",
        "# TYPE healthgate_run_duration_seconds gauge",
        f'healthgate_run_duration_seconds{{profile="{profile}"}} {time.time() - state.started:.3f}',
        "# HELP healthgate_run_success 1 if the last run's gate was green.",
        "# TYPE healthgate_run_success gauge",
        f'healthgate_run_success{{profile="{profile}"}} {1 if exitstatus == 0 else 0}',
    ]
    return redact("\n".join(lines)) + "\n"


def write_outputs(config: Any, state: Any, verdict: Verdict, exitstatus: int) -> None:
    json_path = config.getoption("hg_summary_json")
    if json_path:
        markexpr = str(getattr(config.option, "markexpr", "") or "")
        data = summary_dict(state, verdict, exitstatus, markexpr=markexpr,
                            shard=getattr(config.option, "hg_shard", None))
        _atomic_write(Path(json_path), json.dumps(data, indent=2) + "\n")
    metrics_path = config.getoption("hg_metrics_textfile")
    if metrics_path:
        _atomic_write(Path(metrics_path), metrics_text(state, verdict, exitstatus))
