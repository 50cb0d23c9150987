"""What a gate costs before and after its checks: ``pytest --version`` against a one-target gate.

``pytest --version`` is the floor of any pytest-based tool (interpreter, pytest, no plugin loaded); the gate is
``pytest -m daily --profile=PATH`` with one HTTP target on loopback, as README tells users to type it; the bare
script is the same one GET by ``bench.replay`` (interpreter, httpx, no pytest). Same run, alternating, median.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench import measure, profiles, servers
from bench.wan import _median_run, _record, _rounds


def startup(sizes: Any, workdir: Path) -> list[dict[str, Any]]:
    with servers.http_fleet(1) as ports:
        profile = profiles.http_fleet(workdir / "one-target.yaml", ports)
        probes, _n = _record(profile, workdir)

        def gate() -> measure.Measured:
            plain = measure.plain_gate(profile, "daily", workers=None, timeout=120)
            plain.measured.extra["outcomes"] = plain.outcomes
            return plain.measured

        contenders = {
            "pytest --version": lambda: measure.run([*measure.pytest_command(), "--version"], timeout=120),
            "one-target gate": gate,
            "bare script, one target": lambda: measure.replay(probes, "sequential")[0],
        }
        runs = _rounds(contenders, sizes.startup_repeats)
    floor = statistics.median(m.wall_s for m in runs["pytest --version"])
    rows = []
    for name, ms in runs.items():
        wall = statistics.median(m.wall_s for m in ms)
        rows.append({"scenario": "startup", "case": name, "wall_s": round(wall, 3),
                     "cpu_s": round(statistics.median(m.cpu_s for m in ms), 3),
                     "repeats": [round(m.wall_s, 3) for m in ms], "returncodes": [m.returncode for m in ms],
                     "outcomes": _median_run(ms).extra.get("outcomes", {}),
                     "ratio_vs_version": round(wall / floor, 2) if floor else None})
    return rows
