"""End-of-run outputs: the terminal summary people read, and the JSON / metrics files pipelines and cron read."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from healthgate import __version__
from healthgate.gate import Result, Verdict
from healthgate.redact import redact
from healthgate.vocabulary import COUNTED


def terminal_lines(state: Any, verdict: Verdict, *, allow_empty: bool = False, markexpr: str = "") -> list[str]:
    """Counts by phase and kind, the warnings let through, the waived checks, and the verdict. A check is counted
    under the phase(s) the ``-m`` expression selected it for, so a ``-m daily`` run reads as one block."""
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
                     f"{'waived':>6} {'warning':>7} {'skipped':>7}")
    for (phase, kind), bucket in sorted(counts.items()):
        lines.append(f"  {phase:<{width}} {kind:<13} {bucket['passed']:>6} {bucket['failed']:>6} "
                     f"{bucket['broken']:>6} {bucket['waived']:>6} {bucket['warning']:>7} {bucket['skipped']:>7}")
    for result in verdict.let_through:
        lines.append(f"  warning let through: {result.check}[{result.target}] — {result.message.splitlines()[0]}")
    for result in verdict.waived:
        assert result.waiver is not None
        lines.append(f"  waived: {result.check}[{result.target}] {result.waiver.text()} — it "
                     f"{'could not check' if result.waived_from == 'broken' else 'failed'}: "
                     f"{(result.message.splitlines() or [''])[0]}")
    for entry in waiver_review_entries(state)["no_longer_needed"]:
        lines.append(f"  warning: waiver no longer needed: {entry['scope']} passed in this run "
                     f"({entry['where']}); remove it from the profile")
    for result in state.results:
        if result.waited:
            lines.append(f"  waited: {result.check}[{result.target}] {result.waited}")
    if verdict.total == 0 and allow_empty:
        lines.append("GATE GREEN: no check selected, allowed by --allow-empty")
    else:
        lines.append(verdict.line())
    return lines


def run_day(state: Any) -> dt.date:
    """The day a run judges its waivers by: the local date it started on, the same for every check of the run."""
    return dt.date.fromtimestamp(state.started)


def waiver_review_entries(state: Any) -> dict[str, list[dict[str, Any]]]:
    """The profile's waivers that need a person: expired ones (they turn the gate red) and ones whose check passed
    on every target they cover (no longer needed: remove them). Each says where it is declared."""
    from healthgate import waiver_review, waivers

    review: dict[str, list[dict[str, Any]]] = {"expired": [], "no_longer_needed": []}
    if state.profile is None or not state.profile.header.waivers:
        return review
    declared = state.profile.header.waivers

    def entry(index: int, where: str) -> dict[str, Any]:
        waiver = declared[index]
        return {"index": index, "check": waiver.check, "target": waiver.target, "scope": waiver.scope(),
                "until": waiver.until.isoformat(), "reason": waiver.reason, "approved_by": waiver.approved_by,
                "where": where}

    for problem in waiver_review.expired(state.profile, run_day(state)):
        index = int(problem.path[1])
        review["expired"].append(entry(index, _where(problem)) | {"problem": str(problem)})
    for index in waivers.no_longer_needed(declared, state.results):
        review["no_longer_needed"].append(entry(index, _where(waiver_review.located(state.profile, index, ""))))
    return review


def _where(error: Any) -> str:
    return f"{error.file}:{error.line}" if error.line else str(error.file)


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
    review = waiver_review_entries(state)
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
        "counts": {s: counts.get(s, 0) for s in COUNTED} | {"warnings_let_through": len(verdict.let_through)},
        "failed": [
            {
                "check": r.check, "target": r.target, "kind": r.kind, "phase": r.phase, "severity": r.severity,
                "status": r.status, "blocking": r in verdict.blocking, "message": redact(r.message),
                "observed": redact(r.observed), "expected": redact(r.expected), "runbook": r.runbook,
            }
            for r in state.results if r.status in ("failed", "broken")
        ],
        "waived": [_waived_entry(r) for r in verdict.waived],
        "waivers": {key: [{k: v for k, v in e.items() if k != "scope"} for e in entries]
                    for key, entries in review.items()},
        "waited": [{"check": r.check, "target": r.target, "status": r.status, "waited": r.waited}
                   for r in state.results if r.waited],
    }


def _waived_entry(r: Result) -> dict[str, Any]:
    assert r.waiver is not None
    return {
        "check": r.check, "target": r.target, "kind": r.kind, "phase": r.phase, "severity": r.severity,
        "status": "waived", "waived_from": r.waived_from, "waiver": r.waiver.index, "until": r.waiver.until,
        "reason": redact(r.waiver.reason), "approved_by": r.waiver.approved_by or None,
        "message": redact(r.message), "observed": redact(r.observed), "expected": redact(r.expected),
        "runbook": r.runbook,
    }


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


# One sample of the exposition format: name{labels} value (no timestamps: the textfile collector refuses them).
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)\s*$")
_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def previous_failures_in_a_row(path: Path, profile: str) -> dict[tuple[str, str], int]:
    """The ``healthgate_check_failures_in_a_row`` of the last run of the same profile, read back from the metrics
    file this run is about to replace. A missing, unreadable or foreign file starts every count afresh."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    counts: dict[tuple[str, str], int] = {}
    file_profile = None
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _LABEL_PAIR.findall(match["labels"])}
        if match["name"] == "healthgate_run_timestamp_seconds":
            file_profile = labels.get("profile")
        elif match["name"] == "healthgate_check_failures_in_a_row" and "check" in labels and "target" in labels:
            try:
                counts[(labels["check"], labels["target"])] = max(0, int(float(match["value"])))
            except ValueError:
                continue
    return counts if file_profile == profile else {}


def metrics_text(state: Any, verdict: Verdict, exitstatus: int,
                 previous: dict[tuple[str, str], int] | None = None) -> str:
    """Prometheus text for node_exporter's textfile collector. ``previous`` carries each check's run of failures
    over from the last file, so an alert can say "failing for N runs" whatever the run's schedule."""
    previous = previous or {}
    judged = [r for r in sorted(state.results, key=lambda r: (r.check, r.target)) if r.status != "skipped"]

    def labels(r: Result) -> str:
        return (f'check="{_label(r.check)}",target="{_label(r.target)}",phase="{_label(r.phase)}",'
                f'severity="{r.severity}"')

    lines = [
        "# HELP healthgate_check_success 1 if the check passed in the last run, 0 if it failed, could not check or "
        "was waived.",
        "# TYPE healthgate_check_success gauge",
        *(f"healthgate_check_success{{{labels(r)}}} {1 if r.status == 'passed' else 0}" for r in judged),
        "# HELP healthgate_check_waived 1 if the check failed or could not check in the last run and a waiver of "
        "the profile let it through.",
        "# TYPE healthgate_check_waived gauge",
        *(f"healthgate_check_waived{{{labels(r)}}} {1 if r.status == 'waived' else 0}" for r in judged),
        "# HELP healthgate_check_failures_in_a_row How many runs in a row the check has not passed (failed, could "
        "not check or waived); 0 once it passes.",
        "# TYPE healthgate_check_failures_in_a_row gauge",
        *(f"healthgate_check_failures_in_a_row{{{labels(r)}}} "
          f"{0 if r.status == 'passed' else previous.get((r.check, r.target), 0) + 1}" for r in judged),
    ]
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
        previous = previous_failures_in_a_row(Path(metrics_path), state.profile.name if state.profile else "")
        _atomic_write(Path(metrics_path), metrics_text(state, verdict, exitstatus, previous))


def push_metrics(path: Path, url: str, *, timeout: float = 10.0) -> str:
    """PUT a metrics file to a Pushgateway group, replacing the previous run's series there (the file describes
    the whole run). Returns what went wrong, or "" when the Pushgateway took it."""
    import httpx

    try:
        body = path.read_bytes()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}: did the run write --metrics-textfile={path}?"
    try:
        response = httpx.put(url, content=body, headers={"Content-Type": "text/plain; version=0.0.4"},
                             timeout=timeout)
    except httpx.HTTPError as exc:
        return redact(f"PUT {url} failed ({type(exc).__name__}: {exc}): is the Pushgateway up and the URL right?")
    if response.status_code >= 300:
        return redact(f"PUT {url} answered HTTP {response.status_code}: {response.text[:300]}")
    return ""
