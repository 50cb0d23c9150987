"""Targets far away and targets that never answer: the cases concurrent observation is for.

Every case compares, in the same run, alternating (the order rotates each round) and as the median of the
rounds: ours as README tells users to type it (``pytest -m daily --profile=PATH -n 0`` and ``-n 2``), the limit
(the probes a recorded run sent, fired again by ``bench.replay`` with as many targets at once as the gate
observes), and goss on the one-GET-per-target workload when ``--goss=PATH`` is given.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import goss, measure, profiles, servers
from healthgate.observer import DEFAULT_CONCURRENCY

# The profile's default timeouts (healthgate.targets.base.Timeouts); the black-hole case relies on them.
DEFAULT_READ_TIMEOUT_S = 10.0


def _rounds(contenders: dict[str, Callable[[], measure.Measured]], repeats: int) -> dict[str, list[measure.Measured]]:
    """Run every contender once per round, rotating who goes first, so a slow spell on the host hits them alike."""
    names = list(contenders)
    runs: dict[str, list[measure.Measured]] = {name: [] for name in names}
    for round_no in range(repeats):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(contenders[name]())
    return runs


def _median_run(runs: list[measure.Measured]) -> measure.Measured:
    ordered = sorted(runs, key=lambda m: m.wall_s)
    return ordered[(len(ordered) - 1) // 2]


def _record(profile: Path, workdir: Path) -> tuple[Path, int]:
    """A ``-n 0`` run that records the probes the limit replays; it also warms caches, and is not timed."""
    recorded = measure.gate(profile, "daily", workers="0", record=True, workdir=workdir, timeout=900)
    if recorded.probes_file is None or not recorded.checks:
        raise RuntimeError(f"the recording run selected no check:\n{recorded.measured.log}")
    return recorded.probes_file, len(json.loads(recorded.probes_file.read_text())["probes"])


def _contenders(profile: Path, probes: Path, workers: tuple[str, ...], goss_run: Callable[[], measure.Measured] | None,
                timeout: float) -> dict[str, Callable[[], measure.Measured]]:
    def ours(w: str) -> Callable[[], measure.Measured]:
        def one() -> measure.Measured:
            plain = measure.plain_gate(profile, "daily", workers=w, timeout=timeout)
            plain.measured.extra["outcomes"] = plain.outcomes
            return plain.measured
        return one

    contenders: dict[str, Callable[[], measure.Measured]] = {f"ours -n {w}": ours(w) for w in workers}
    contenders["limit"] = lambda: measure.replay_concurrent(probes, DEFAULT_CONCURRENCY)[0]
    if goss_run is not None:
        contenders["goss"] = goss_run
    return contenders


def _rows(scenario: str, case: str, runs: dict[str, list[measure.Measured]], **extra: Any) -> list[dict[str, Any]]:
    med = {name: statistics.median(m.wall_s for m in ms) for name, ms in runs.items()}
    rows = []
    for name, ms in runs.items():
        typical = _median_run(ms)
        outcomes = typical.extra.get("outcomes", {})
        row: dict[str, Any] = {
            "scenario": scenario, "case": f"{case}: {name}", "contender": name, "wall_s": round(med[name], 3),
            "repeats": [round(m.wall_s, 3) for m in ms], "cpu_s": round(statistics.median(m.cpu_s for m in ms), 2),
            "returncodes": [m.returncode for m in ms], "outcomes": outcomes,
            "checks": sum(n for k, n in outcomes.items() if k != "deselected") or None,
            "ratio_vs_limit": round(med[name] / med["limit"], 2) if med.get("limit") else None,
            "ratio_vs_goss": round(med[name] / med["goss"], 2) if med.get("goss") else None,
            **extra,
        }
        rows.append(row)
    return rows


def wan(sizes: Any, workdir: Path) -> list[dict[str, Any]]:
    """Every response held ``wan_delay`` seconds in the server: the daily checks, and one GET per target."""
    rows: list[dict[str, Any]] = []
    for size in sizes.wan:
        with servers.http_fleet(size, delay=sizes.wan_delay) as ports:
            workloads = [("daily", profiles.http_fleet(workdir / f"wan-{size}.yaml", ports)),
                         ("one GET", profiles.http_fleet(workdir / f"wan-{size}-one-get.yaml", ports, one_get=True))]
            for workload, profile in workloads:
                probes, n_probes = _record(profile, workdir)
                goss_run = None
                if sizes.goss and workload == "one GET":
                    gossfile = goss.gossfile(workdir / f"wan-{size}.goss.yaml", ports,
                                             timeout_s=DEFAULT_READ_TIMEOUT_S)
                    goss_run = lambda f=gossfile: goss.validate(sizes.goss, f, timeout=900)  # noqa: E731
                workers = sizes.wan_workers if workload == "daily" else sizes.wan_one_get_workers
                runs = _rounds(_contenders(profile, probes, workers, goss_run, timeout=900), sizes.wan_repeats)
                # the least a run can wait: every target's requests at the server's delay, spread over the
                # targets observed at once (the health GET, then the latency sample in rounds of 4)
                per_target = n_probes / size
                rounds_per_target = per_target if workload == "one GET" else 1 + math.ceil((per_target - 1) / 4)
                floor = sizes.wan_delay * rounds_per_target * math.ceil(size / DEFAULT_CONCURRENCY)
                rows += _rows("wan", f"{workload} x{size} @{sizes.wan_delay * 1000:g}ms", runs, targets=size,
                              workload=workload, probes=n_probes, delay_s=sizes.wan_delay,
                              waiting_floor_s=round(floor, 3))
    return rows


def blackhole(sizes: Any, workdir: Path) -> list[dict[str, Any]]:
    """HTTP targets that accept TCP and never answer, with the profile's timeouts (default: connect 3 s, read
    10 s): a run should cost about one read timeout, not one per target."""
    rows: list[dict[str, Any]] = []
    read = sizes.hung_timeouts[1] if sizes.hung_timeouts else DEFAULT_READ_TIMEOUT_S
    for size in sizes.hung:
        with servers.http_fleet(size, blackhole=True) as ports:
            profile = profiles.http_blackholes(workdir / f"hung-{size}.yaml", ports, timeouts=sizes.hung_timeouts)
            probes, n_probes = _record(profile, workdir)
            goss_run = None
            if sizes.goss:
                gossfile = goss.gossfile(workdir / f"hung-{size}.goss.yaml", ports, timeout_s=read)
                goss_run = lambda f=gossfile: goss.validate(sizes.goss, f, timeout=900)  # noqa: E731
            runs = _rounds(_contenders(profile, probes, sizes.hung_workers, goss_run, timeout=900), sizes.hung_repeats)
            case_rows = _rows("blackhole", f"{size} hung", runs, targets=size, probes=n_probes, read_timeout_s=read)
            for row in case_rows:
                row["timeouts_waited"] = round(row["wall_s"] / read, 2)
                workers = int(row["contender"].rsplit(" ", 1)[-1]) if row["contender"].startswith("ours") else 0
                # a worker observes its targets one after the other (no look-ahead under -n): its share of them
                row["ideal_timeouts"] = math.ceil(size / workers) if workers else 1
            rows += case_rows
    return rows
