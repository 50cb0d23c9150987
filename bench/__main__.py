"""``python -m bench``: how fast the gate answers, and how it scales. See bench/README.md.

    python -m bench                  # full run (~45 min): demo stack in Docker, fleets up to 1,000 targets,
                                     # far (50 ms) and black-holed targets, start-up, CPU per request
    python -m bench --smoke          # tiny sizes on native servers, what CI runs
    python -m bench --only wan,blackhole --goss=/usr/local/bin/goss --out results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import requestcost, scenarios, startup, wan

RUNNERS = {"startup": startup.startup, "requestcost": requestcost.scenario, "gate": scenarios.gate_latency,
           "fleet": scenarios.fleet, "wan": wan.wan, "blackhole": wan.blackhole, "collection": scenarios.collection}
SCENARIOS = tuple(RUNNERS)
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def machine() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    def first_line(argv: list[str]) -> str:
        if shutil.which(argv[0]) is None:
            return "-"
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "-"

    cpu = "-"
    mem_gib = 0.0
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                   "-")
        meminfo = Path("/proc/meminfo").read_text().split()
        mem_gib = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return {
        "cpus": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem_gib, 1), "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {d: version(d) for d in ("pytest", "pytest-xdist", "httpx", "psycopg", "redis", "pydantic")},
        "postgres": first_line(["/usr/lib/postgresql/15/bin/postgres", "--version"]),
        "redis_server": first_line(["redis-server", "--version"]),
        "curl": first_line(["curl", "--version"]),
        # other work on the host skews every figure: recorded so a noisy run can be told from a slow gate
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def line(row: dict[str, Any]) -> str:
    parts = [f"{row['scenario']:<10}", f"{row['case']:<42}", f"wall {row['wall_s']:8.2f}s"]
    if row.get("checks") and row.get("checks_per_s"):
        parts.append(f"{row['checks']:6d} checks {row['checks_per_s']:8.1f}/s")
    elif row.get("checks"):
        parts.append(f"{row['checks']:6d} checks")
    if row.get("peak_rss_mb"):
        parts.append(f"peak {row['peak_rss_mb']:6.1f} MB")
    for key, label in (("collect_s", "collect"), ("ratio_vs_shell", "ours/shell"), ("ratio_vs_limit", "ours/limit"),
                       ("overhead_ms_per_check", "overhead ms/check"), ("cpu_s", "cpu s"),
                       ("ratio_vs_goss", "ours/goss"), ("waiting_floor_s", "waiting floor s"),
                       ("timeouts_waited", "timeouts waited"), ("ratio_vs_version", "x pytest --version"),
                       ("cpu_us", "cpu us/request")):
        if row.get(key) is not None:
            parts.append(f"{label} {row[key]}")
    if row.get("statuses"):
        parts.append(" ".join(f"{k}={v}" for k, v in row["statuses"].items() if v))
    if row.get("outcomes"):
        parts.append(" ".join(f"{k}={v}" for k, v in row["outcomes"].items() if v))
    if row.get("returncodes"):
        parts.append(f"exit {'/'.join(map(str, row['returncodes']))}")
    return "  ".join(parts)


def growth_line(fit: dict[str, Any]) -> str:
    return (f"{'growth':<10} {fit['case']:<42} fixed {fit['fixed_s']:.2f}s + {fit['per_target_ms']:.2f} ms/target "
            f"(worst fit error {fit['worst_fit_error_pct']}%)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on native servers (< 60 s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default {DEFAULT_OUT})")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--gate-source", choices=("demo", "native"), default=None,
                        help="demo: profiles/demo.yaml on the Docker stack (full default); native: host servers")
    parser.add_argument("--http-sizes", default=None, help="e.g. 10,100,1000")
    parser.add_argument("--wan-sizes", default=None, help="e.g. 10,100,300,1000")
    parser.add_argument("--workers", default=None, metavar="N,N",
                        help="-n values for the far and black-holed cases (default 0,2)")
    parser.add_argument("--goss", default=None, metavar="PATH",
                        help="a goss binary: compare with it on the one-GET-per-target workloads")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (profiles, logs, probes)")
    args = parser.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    sizes = scenarios.SMOKE if args.smoke else scenarios.FULL
    if args.gate_source:
        sizes = dataclasses.replace(sizes, gate_source=args.gate_source)
    if args.http_sizes:
        sizes = dataclasses.replace(sizes, http=tuple(int(x) for x in args.http_sizes.split(",")))
    if args.wan_sizes:
        sizes = dataclasses.replace(sizes, wan=tuple(int(x) for x in args.wan_sizes.split(",")))
    if args.workers:
        workers = tuple(w.strip() for w in args.workers.split(",") if w.strip())
        sizes = dataclasses.replace(sizes, wan_workers=workers, wan_one_get_workers=workers, hung_workers=workers)
    if args.goss:
        if not os.access(args.goss, os.X_OK):
            parser.error(f"--goss={args.goss}: not an executable file")
        sizes = dataclasses.replace(sizes, goss=str(Path(args.goss).resolve()))
    workdir = Path(tempfile.mkdtemp(prefix="healthgate-bench-"))
    results: dict[str, Any] = {"machine": machine(), "smoke": args.smoke, "sizes": dataclasses.asdict(sizes),
                               "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "scenarios": {}}
    if sizes.goss:
        from bench import goss

        results["machine"]["goss"] = goss.version(sizes.goss)
    print(f"# {results['machine']['cpus']} CPUs ({results['machine']['cpu']}), {results['machine']['ram_gib']} GiB, "
          f"Python {results['machine']['python']}; work dir {workdir}", flush=True)
    started = time.perf_counter()
    failed = False
    try:
        for name in wanted:
            run = RUNNERS[name]
            try:
                rows = run(sizes, workdir)
            except Exception as exc:  # one broken scenario must not hide the others' numbers
                failed = True
                print(f"{name:<10} FAILED: {type(exc).__name__}: {exc}", flush=True)
                results["scenarios"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            for row in rows:
                print(line(row), flush=True)
            if name == "fleet":
                fits = scenarios.growth(rows)
                for fit in fits:
                    print(growth_line(fit), flush=True)
                rows = rows + fits
            results["scenarios"][name] = rows
    finally:
        results["total_s"] = round(time.perf_counter() - started, 1)
        results["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"# total {results['total_s']}s; results in {args.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
