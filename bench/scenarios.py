"""The loopback scenarios: gate latency against its two baselines, fleet scale, collection of many checks
(far and black-holed targets are in ``bench.wan``, start-up in ``bench.startup``). Each returns result rows (plain
dicts, JSON-ready); printing is ``bench.__main__``'s business."""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import measure, profiles, servers, shell


@dataclass(frozen=True)
class Sizes:
    gate_source: str  # "demo" (the stack in Docker) or "native" (refapp, PostgreSQL, Redis on the host)
    gate_repeats: int
    gate_variants: tuple[str, ...]  # keys of OURS
    http: tuple[int, ...]
    postgres: tuple[int, ...]
    redis: tuple[int, ...]
    workers: tuple[str, ...]
    db_workers: tuple[str, ...]
    collect_checks: int
    # far targets: every answer held back wan_delay seconds in the server
    wan: tuple[int, ...]
    wan_delay: float
    wan_workers: tuple[str, ...]
    wan_one_get_workers: tuple[str, ...]
    wan_repeats: int
    # black-holed HTTP targets; timeouts None = the profile's defaults (connect 3 s, read 10 s)
    hung: tuple[int, ...]
    hung_timeouts: tuple[float, float] | None
    hung_workers: tuple[str, ...]
    hung_repeats: int
    startup_repeats: int
    request_cost_requests: int
    goss: str | None = None  # a goss binary to compare with (not built by the bench)


FULL = Sizes(gate_source="demo", gate_repeats=3, gate_variants=("ours_n0", "ours_n2", "ours_n0_lean"),
             http=(10, 100, 1000), postgres=(10, 50), redis=(10, 50), workers=("0", "2", "auto"),
             db_workers=("0", "2", "auto"), collect_checks=10_000,
             wan=(10, 100, 300, 1000), wan_delay=0.05, wan_workers=("0", "2"), wan_one_get_workers=("0", "2"),
             wan_repeats=3, hung=(1, 10, 30), hung_timeouts=None, hung_workers=("0", "2"), hung_repeats=3,
             startup_repeats=7, request_cost_requests=3000)
# CI's proof that every scenario still runs end to end: one round of each, tiny sizes, short timeouts
SMOKE = Sizes(gate_source="native", gate_repeats=1, gate_variants=("ours_n0",), http=(3,), postgres=(), redis=(1,),
              workers=("0",), db_workers=("0",), collect_checks=300,
              wan=(2,), wan_delay=0.05, wan_workers=("0", "2"), wan_one_get_workers=("0",), wan_repeats=1,
              hung=(1,), hung_timeouts=(1.0, 1.0), hung_workers=("0",), hung_repeats=1,
              startup_repeats=1, request_cost_requests=100)


# Test-only plugins a dev install auto-loads into every pytest run; a production gate host does not have them.
LEAN = ["-p", "no:hypothesispytest", "-p", "no:anyio"]
OURS: dict[str, tuple[str, str, list[str]]] = {
    "ours_n0": ("ours -n 0", "0", []),
    "ours_n2": ("ours -n 2", "2", []),
    "ours_n0_lean": ("ours -n 0, no dev plugins", "0", LEAN),
}


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _gate_servers(source: str, workdir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    if source == "demo":
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
        from healthgate import provision

        env, stop = provision.start("reference-stack")
        try:
            yield profiles.demo_on_running_stack(workdir / "demo-bench.yaml"), env
        finally:
            stop()
        return
    with servers.refapp() as url, servers.postgres_server(1) as pg, servers.redis_server(1) as redis:
        yield profiles.native_gate(workdir / "demo-native.yaml", url, pg, redis), {}


def _row(scenario: str, case: str, run: measure.GateRun, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": scenario, "case": case, "wall_s": round(run.wall_s, 3), "checks": run.checks,
        "checks_per_s": round(run.checks / run.wall_s, 1) if run.wall_s else 0.0,
        "startup_s": round(run.startup_s, 3), "collect_s": round(run.collect_s, 3),
        "peak_rss_mb": round(run.worker_peak_rss_mb, 1), "statuses": run.statuses,
        "returncode": run.measured.returncode,
        **extra,
    }


def gate_latency(sizes: Sizes, workdir: Path) -> list[dict[str, Any]]:
    """post_deploy of the demo profile: ours (-n 0, -n 2) vs the sequential shell script vs the bare script."""
    rows: list[dict[str, Any]] = []
    with _gate_servers(sizes.gate_source, workdir) as (profile, env), _environ(env):
        # first run: records the probes for both baselines and warms the servers' caches
        recorded = measure.gate(profile, "post_deploy", workers="0", record=True, workdir=workdir)
        if recorded.probes_file is None or not recorded.checks:
            raise RuntimeError(f"the recording run selected no check:\n{recorded.measured.log}")
        probes = json.loads(recorded.probes_file.read_text())
        script = workdir / "gate-seeds-way.sh"
        script.write_text(shell.script(probes))
        variants = {key: OURS[key] for key in sizes.gate_variants}
        samples: dict[str, list[float]] = {k: [] for k in (*variants, "shell", "limit", "limit_seq")}
        last: dict[str, measure.GateRun] = {}
        peaks: dict[str, float] = {}
        for _ in range(sizes.gate_repeats):
            for key, (_label, workers, extra) in variants.items():
                run = measure.gate(profile, "post_deploy", workers=workers, workdir=workdir, extra=extra)
                samples[key].append(run.wall_s)
                last[key] = run
            sh = measure.shell(script)
            samples["shell"].append(sh.wall_s)
            peaks["shell"] = sh.peak_rss_mb
            for key, mode in (("limit", "concurrent"), ("limit_seq", "sequential")):
                bare, _counts = measure.replay(recorded.probes_file, mode)
                samples[key].append(bare.wall_s)
                peaks[key] = bare.peak_rss_mb
        med = {k: statistics.median(v) for k, v in samples.items()}
        n_probes = len(probes["probes"])
        source = f"{sizes.gate_source} post_deploy"
        for key, (label, *_how) in variants.items():
            run = last[key]
            row = _row("gate", f"{source}: {label}", run)
            row.update(wall_s=round(med[key], 3), checks_per_s=round(run.checks / med[key], 1),
                       ratio_vs_shell=round(med[key] / med["shell"], 3),
                       ratio_vs_limit=round(med[key] / med["limit"], 3),
                       repeats=samples[key], probes=n_probes)
            rows.append(row)
        checks = recorded.checks
        for key, label, what in (("shell", "seeds' shell script", "curl/psql/redis-cli, one process per probe"),
                                 ("limit", "limit (bare, concurrent)", "one thread per target, no pytest"),
                                 ("limit_seq", "bare, sequential", "targets one after the other, no pytest")):
            rows.append({"scenario": "gate", "case": f"{source}: {label}", "wall_s": round(med[key], 3),
                         "checks": checks, "checks_per_s": round(checks / med[key], 1),
                         "peak_rss_mb": round(peaks[key], 1), "repeats": samples[key], "probes": n_probes,
                         "what": what})
    return rows


def _fleet_case(kind: str, size: int, profile: Path, workers: tuple[str, ...],
                workdir: Path) -> list[dict[str, Any]]:
    rows = []
    bare_seq: float | None = None
    ordered = sorted(workers, key=lambda w: w != "0")  # -n 0 first: it records the probes of the bare run
    for index, w in enumerate(ordered):
        run = measure.gate(profile, "daily", workers=w, record=index == 0, workdir=workdir)
        extra: dict[str, Any] = {"kind": kind, "targets": size, "workers": w,
                                 "per_target_ms": round(1000 * run.wall_s / size, 2)}
        if index == 0 and run.probes_file is not None:
            bare, counts = measure.replay(run.probes_file, "sequential")
            bare_seq = bare.wall_s
            extra["probes"] = counts.get("probes")
        if bare_seq is not None and run.checks:
            extra["bare_seq_s"] = round(bare_seq, 3)
            # all-in: start-up, collection, reporting and the engine, shared out over the checks
            if w == "0":
                extra["overhead_ms_per_check"] = round(1000 * (run.wall_s - bare_seq) / run.checks, 2)
        rows.append(_row("fleet", f"{kind} x{size} -n {w}", run, **extra))
    return rows


def fleet(sizes: Sizes, workdir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in sizes.http:
        with servers.http_fleet(size) as ports:
            profile = profiles.http_fleet(workdir / f"fleet-http-{size}.yaml", ports)
            rows += _fleet_case("http", size, profile, sizes.workers, workdir)
    if sizes.postgres:
        with servers.postgres_server(max(sizes.postgres)) as pg:
            for size in sizes.postgres:
                profile = profiles.postgres_fleet(workdir / f"fleet-postgres-{size}.yaml", pg, size)
                rows += _fleet_case("postgres", size, profile, sizes.db_workers, workdir)
    if sizes.redis:
        with servers.redis_server(max(sizes.redis)) as redis:
            for size in sizes.redis:
                profile = profiles.redis_fleet(workdir / f"fleet-redis-{size}.yaml", redis, size)
                rows += _fleet_case("redis", size, profile, sizes.db_workers, workdir)
    return rows


def growth(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Least-squares ``wall = fixed + per_target × targets`` per kind and worker count."""
    fits = []
    keys = sorted({(r["kind"], r["workers"]) for r in rows if r.get("scenario") == "fleet"})
    for kind, workers in keys:
        points = [(r["targets"], r["wall_s"]) for r in rows
                  if r.get("scenario") == "fleet" and r["kind"] == kind and r["workers"] == workers]
        if len(points) < 2:
            continue
        xs, ys = zip(*points, strict=True)
        mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
        var = sum((x - mean_x) ** 2 for x in xs)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var if var else 0.0
        fixed = mean_y - slope * mean_x
        worst = max(abs(y - (fixed + slope * x)) / y for x, y in points)
        fits.append({"scenario": "growth", "case": f"{kind} -n {workers}", "kind": kind, "workers": workers,
                     "fixed_s": round(fixed, 3), "per_target_ms": round(1000 * slope, 2),
                     "worst_fit_error_pct": round(100 * worst, 1), "points": points})
    return fits


def collection(sizes: Sizes, workdir: Path) -> list[dict[str, Any]]:
    """``--collect-only`` of a profile with ``collect_checks`` daily checks (three per plain HTTP target)."""
    targets = math.ceil(sizes.collect_checks / 3)
    ports = [20000 + i % 40000 for i in range(targets)]  # never contacted: collection opens no socket
    profile = profiles.http_fleet(workdir / f"collect-{targets}.yaml", ports)
    stage_dir = workdir / "collect-stages"
    argv = [sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "bench.plugin", "-m", "daily",
            f"--profile={profile}"]
    measured = measure.run(argv, env={"BENCH_STAGE_DIR": str(stage_dir), "BENCH_RECORD": "0"})
    stage: dict[str, Any] = next((json.loads(p.read_text()) for p in stage_dir.glob("*.stages.json")), {})
    checks = int(stage.get("items", 0))
    return [{"scenario": "collection", "case": f"collect-only {checks} checks", "checks": checks,
             "wall_s": round(measured.wall_s, 3), "collect_s": round(stage.get("collect_s", 0.0), 3),
             "checks_per_s": round(checks / measured.wall_s, 1) if measured.wall_s else 0.0,
             "peak_rss_mb": round(stage.get("peak_rss_mb", 0.0), 1), "returncode": measured.returncode}]
