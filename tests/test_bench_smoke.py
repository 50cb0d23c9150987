"""The benchmark harness still runs end to end (tiny sizes). Timings are not judged here: see bench/README.md."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("startup", "requestcost", "gate", "fleet", "wan", "blackhole", "collection")


def _missing_servers() -> list[str]:
    missing = [name for name in ("redis-server", "psql", "curl", "redis-cli") if shutil.which(name) is None]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        missing.append("PostgreSQL server binaries")
    return missing


def test_bench_smoke_reports_every_scenario(tmp_path):
    missing = _missing_servers()
    if missing:
        pytest.skip(f"the benchmark needs {', '.join(missing)} on this host")
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert out.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    for name in SCENARIOS:
        rows = results["scenarios"].get(name)
        assert isinstance(rows, list) and rows, f"{name}: {rows!r}\n{done.stdout[-3000:]}"
        for row in rows:
            assert isinstance(row["wall_s"], int | float) and row["wall_s"] > 0, row
    gate_cases = [row["case"] for row in results["scenarios"]["gate"]]
    assert any("shell" in case for case in gate_cases) and any("limit" in case for case in gate_cases)
    assert all(isinstance(row.get("ratio_vs_limit"), float) for row in results["scenarios"]["gate"]
               if row["case"].endswith(("-n 0", "-n 2")))
    # far and black-holed targets: ours as README writes the command, against the bare limit, same run
    for name in ("wan", "blackhole"):
        contenders = {row["contender"] for row in results["scenarios"][name]}
        assert {"ours -n 0", "limit"} <= contenders, (name, contenders)
        assert all(isinstance(row["ratio_vs_limit"], float) for row in results["scenarios"][name])
    assert {row["workload"] for row in results["scenarios"]["wan"]} == {"daily", "one GET"}
    assert all(row["returncodes"] == [0] for row in results["scenarios"]["wan"]), results["scenarios"]["wan"]
    # a black-holed target fails the gate, after about one read timeout
    assert all(row["returncodes"] == [1] for row in results["scenarios"]["blackhole"] if row["contender"] != "limit")
    assert [row["case"] for row in results["scenarios"]["startup"]][:2] == ["pytest --version", "one-target gate"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
