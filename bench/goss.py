"""goss on the same workload, when a goss binary is given (``python -m bench --goss=PATH``).

goss checks one HTTP resource per URL with one GET each, so it is compared on our one-GET-per-target workload
(``test_health_endpoint`` only). Each resource gets the profile's read timeout and expects status 200; goss runs
with its own defaults otherwise (its ``--max-concurrent`` included), as a user would run it. The bench does not
build or fetch goss: see bench/README.md for the binary the published figures used.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from bench import measure


def gossfile(path: Path, ports: list[int], *, timeout_s: float) -> Path:
    resources = {f"http://127.0.0.1:{port}/health": {"status": 200, "timeout": int(timeout_s * 1000)}
                 for port in ports}
    path.write_text(yaml.safe_dump({"http": resources}, sort_keys=False))
    return path


def version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else "-"


def validate(binary: str, goss_yaml: Path, *, timeout: float) -> measure.Measured:
    """``goss -g FILE validate``; its exit status says whether every resource matched."""
    return measure.run([binary, "-g", str(goss_yaml), "validate"], timeout=timeout)
