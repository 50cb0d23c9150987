"""Running one measured command: wall time, peak memory per process, and the stages pytest went through."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import ROOT

TIME = "/usr/bin/time"


@dataclass
class Measured:
    wall_s: float
    returncode: int
    # wait4's ru_maxrss; on Linux it starts at our own size at fork, so callers replace it with VmHWM figures
    peak_rss_mb: float
    log: str = ""
    # user + system CPU of the process and every child it waited for (xdist workers included)
    cpu_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 1800.0,
        log_path: Path | None = None) -> Measured:
    """Run ``argv`` to completion; peak RSS from ``wait4`` covers the process and every child it waited for."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), full_env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # A deployed gate runs from compiled bytecode; this host may forbid writing it (PYTHONDONTWRITEBYTECODE),
    # which would recompile and re-rewrite every module on every run. Cache it away from the work tree.
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    full_env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "healthgate-bench-pycache"))
    full_env.update(env or {})
    log_file = log_path or Path(tempfile.mkstemp(prefix="bench-", suffix=".log")[1])
    with log_file.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, 9)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log_file.read_text(errors="replace")
    if log_path is None:
        log_file.unlink()
    return Measured(wall, proc.returncode, usage.ru_maxrss / 1024.0, text[-4000:],
                    cpu_s=usage.ru_utime + usage.ru_stime)


@dataclass
class GateRun:
    """One ``pytest`` run of the gate, as seen from outside and from the ``bench.plugin`` stage files."""

    measured: Measured
    checks: int
    statuses: dict[str, int]
    startup_s: float
    collect_s: float
    workers: int
    worker_peak_rss_mb: float
    probes_file: Path | None

    @property
    def wall_s(self) -> float:
        return self.measured.wall_s


def gate(profile: Path, phase: str, *, workers: str = "0", record: bool = False, workdir: Path,
         timeout: float = 1800.0, extra: list[str] | None = None) -> GateRun:
    stage_dir = Path(tempfile.mkdtemp(prefix="stages-", dir=workdir))
    summary = stage_dir / "summary.json"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "bench.plugin", "-p", "no:cacheprovider",
            "-m", phase, f"--profile={profile}", "-n", workers, "--dist", "loadgroup",
            "--summary-json", str(summary), *(extra or [])]
    env = {"BENCH_STAGE_DIR": str(stage_dir), "BENCH_RECORD": "1" if record else "0",
           "BENCH_SPAWNED_AT": repr(time.time())}
    spawned = time.time()
    measured = run(argv, env=env, timeout=timeout, log_path=stage_dir / "pytest.log")
    stages = [json.loads(p.read_text()) for p in stage_dir.glob("*.stages.json")]
    statuses: dict[str, int] = {}
    checks = 0
    if summary.is_file():
        data = json.loads(summary.read_text())
        statuses = {k: int(v) for k, v in data.get("counts", {}).items() if isinstance(v, int | float)}
        checks = sum(statuses.get(k, 0) for k in ("passed", "failed", "broken", "skipped"))
    collect = max((s.get("collect_s", 0.0) for s in stages), default=0.0)
    startup = min((s.get("configured_at", spawned) for s in stages), default=spawned) - spawned
    worker_peak = max((s.get("peak_rss_mb", 0.0) for s in stages), default=0.0)
    probes_file = _merge_probes(stage_dir) if record else None
    n_workers = sum(1 for s in stages if s.get("worker", "main") != "main") or 1
    return GateRun(measured, checks, statuses, max(0.0, startup), collect, n_workers, worker_peak, probes_file)


def _merge_probes(stage_dir: Path) -> Path:
    merged: dict[str, Any] = {"targets": {}, "probes": []}
    for part in sorted(stage_dir.glob("*.probes.json")):
        data = json.loads(part.read_text())
        merged["targets"].update(data["targets"])
        merged["probes"].extend(data["probes"])
    out = stage_dir / "probes.json"
    out.write_text(json.dumps(merged))
    return out


def replay(probes: Path, mode: str) -> tuple[Measured, dict[str, Any]]:
    measured = run([sys.executable, "-m", "bench.replay", str(probes), "--mode", mode])
    return measured, _counts(measured)


def shell(script: Path) -> Measured:
    """``bash script``; its peak memory (largest of bash and the curl/psql/redis-cli it ran) through GNU time,
    which starts small, so its child does not inherit our high-water mark."""
    if not Path(TIME).is_file():
        measured = run(["bash", str(script)])
        measured.peak_rss_mb = 0.0
        return measured
    out = Path(tempfile.mkstemp(prefix="bench-time-")[1])
    try:
        measured = run([TIME, "-f", "%M", "-o", str(out), "bash", str(script)])
        measured.peak_rss_mb = int(out.read_text().split()[-1]) / 1024.0
    except (ValueError, IndexError):
        measured.peak_rss_mb = 0.0
    finally:
        out.unlink(missing_ok=True)
    return measured


# pytest's closing line, e.g. "3000 passed, 66 deselected in 12.3s"; "error" counts checks that could not look
_OUTCOME = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)\b")


def pytest_command() -> list[str]:
    """``pytest`` as a user types it: the console script next to this interpreter (a version manager's shim in
    front of it would add its own start-up to every figure), else ``python -m pytest``."""
    script = Path(sys.executable).with_name("pytest")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pytest"]


@dataclass
class PlainRun:
    """A run of exactly the command a user types; what it did is read from its own output."""

    measured: Measured
    outcomes: dict[str, int]

    @property
    def wall_s(self) -> float:
        return self.measured.wall_s

    @property
    def checks(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k not in ("deselected",))


def plain_gate(profile: Path, phase: str, *, workers: str | None, timeout: float = 1800.0) -> PlainRun:
    """``pytest -m PHASE --profile=PATH [-n WORKERS]``, the form README gives, and nothing else: no timing
    plugin, no summary file, no distribution flag."""
    argv = [*pytest_command(), "-m", phase, f"--profile={profile}", *(["-n", workers] if workers else [])]
    measured = run(argv, timeout=timeout)
    closing = next((line for line in reversed(measured.log.splitlines()) if " in " in line and "=" in line), "")
    outcomes: dict[str, int] = {}
    for count, word in _OUTCOME.findall(closing):
        key = "error" if word.startswith("error") else word
        outcomes[key] = outcomes.get(key, 0) + int(count)
    return PlainRun(measured, outcomes)


def replay_concurrent(probes: Path, threads: int) -> tuple[Measured, dict[str, Any]]:
    """The bare limit with ``threads`` targets at once (the gate's own concurrency, so the two compare like for
    like: either could be given more)."""
    measured = run([sys.executable, "-m", "bench.replay", str(probes), "--mode", "concurrent",
                    "--max-threads", str(threads)])
    return measured, _counts(measured)


def _counts(measured: Measured) -> dict[str, Any]:
    for line in reversed(measured.log.splitlines()):
        if line.startswith("{"):
            counts: dict[str, Any] = json.loads(line)
            measured.peak_rss_mb = float(counts.get("peak_rss_mb", 0.0))
            return counts
    return {}
