"""``python -m bench.report RESULTS.json``: the results as the Markdown tables of bench/README.md."""

from __future__ import annotations

import json
import sys
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " / ".join(_cell(v) for v in value)
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> list[str]:
    lines = ["| " + " | ".join(title for title, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key)) for _, key in columns) + " |")
    return lines


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    out.append(f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['ram_gib']} GiB RAM, Linux {m['kernel']}, "
               f"Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
               + f"; {m['postgres']}; {m['redis_server'].split(' sha=')[0]}; {m['curl'].split(' (')[0]}. "
               f"Load average at start {m.get('loadavg_at_start')}, at end {results.get('loadavg_at_end')}. "
               f"Total {results.get('total_s')} s.")
    if m.get("goss"):
        out[-1] += f" goss: {m['goss']}."
    scenarios = results["scenarios"]
    if isinstance(scenarios.get("startup"), list):
        out += ["", "### 0. Start-up: a one-target gate against `pytest --version` (median of rounds)", ""]
        out += table(scenarios["startup"], [("command", "case"), ("wall s", "wall_s"), ("CPU s", "cpu_s"),
                                            ("x pytest --version", "ratio_vs_version"), ("rounds s", "repeats")])
    if isinstance(scenarios.get("requestcost"), list):
        out += ["", "### CPU per HTTP request (sequential, kept-alive, loopback, answered at once)", ""]
        out += table(scenarios["requestcost"], [("request path", "case"), ("CPU µs", "cpu_us"),
                                                ("wall µs", "wall_us"),
                                                ("requests per CPU-second", "requests_per_cpu_s"),
                                                ("x httpx", "ratio_vs_httpx")])
    if isinstance(scenarios.get("gate"), list):
        out += ["", "### 1. Gate latency (post_deploy, median of repeats)", ""]
        out += table(scenarios["gate"], [("case", "case"), ("wall s", "wall_s"), ("checks", "checks"),
                                         ("checks/s", "checks_per_s"), ("peak MB", "peak_rss_mb"),
                                         ("start-up s", "startup_s"), ("collect s", "collect_s"),
                                         ("ours/shell", "ratio_vs_shell"), ("ours/limit", "ratio_vs_limit")])
    if isinstance(scenarios.get("fleet"), list):
        fleet = [r for r in scenarios["fleet"] if r["scenario"] == "fleet"]
        fits = [r for r in scenarios["fleet"] if r["scenario"] == "growth"]
        out += ["", "### 2. Fleet scale (daily)", ""]
        out += table(fleet, [("case", "case"), ("wall s", "wall_s"), ("checks", "checks"),
                             ("checks/s", "checks_per_s"), ("collect s", "collect_s"), ("ms/target", "per_target_ms"),
                             ("bare seq s", "bare_seq_s"), ("overhead ms/check", "overhead_ms_per_check"),
                             ("peak MB/worker", "peak_rss_mb")])
        out += ["", "Growth (least squares, wall = fixed + per-target cost):", ""]
        out += table(fits, [("kind, workers", "case"), ("fixed s", "fixed_s"), ("ms/target", "per_target_ms"),
                            ("worst fit error %", "worst_fit_error_pct")])
    if isinstance(scenarios.get("wan"), list):
        delay = next((r["delay_s"] for r in scenarios["wan"]), 0)
        out += ["", f"### 4. Far targets: every answer held {delay * 1000:g} ms in the server (median of rounds)", ""]
        out += table(scenarios["wan"], [("case", "case"), ("wall s", "wall_s"), ("checks", "checks"),
                                        ("probes", "probes"), ("CPU s", "cpu_s"), ("ours/limit", "ratio_vs_limit"),
                                        ("ours/goss", "ratio_vs_goss"), ("waiting floor s", "waiting_floor_s"),
                                        ("rounds s", "repeats")])
    if isinstance(scenarios.get("blackhole"), list):
        out += ["", "### 5. Black-holed HTTP targets (accept TCP, never answer; median of rounds)", ""]
        out += table(scenarios["blackhole"], [("case", "case"), ("targets", "targets"), ("wall s", "wall_s"),
                                              ("read timeouts waited", "timeouts_waited"),
                                              ("ideal (timeouts)", "ideal_timeouts"), ("ours/limit", "ratio_vs_limit"),
                                              ("ours/goss", "ratio_vs_goss"), ("rounds s", "repeats")])
    if isinstance(scenarios.get("collection"), list):
        out += ["", "### Collection", ""]
        out += table(scenarios["collection"], [("case", "case"), ("wall s", "wall_s"), ("collect s", "collect_s"),
                                               ("peak MB", "peak_rss_mb")])
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m bench.report RESULTS.json", file=sys.stderr)
        return 2
    with open(args[0]) as stream:
        print(render(json.load(stream)), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
