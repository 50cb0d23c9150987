"""NVIDIA GPUs of the local host, through ``nvidia-smi``'s CSV query (memory used/total and utilisation).

``nvidia-smi`` is run as a child process with the read timeout; a host without it, or without a GPU, is reported
as absent so the checks skip instead of failing. Any user that may run ``nvidia-smi`` can run these checks.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Literal

from pydantic import Field

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings
from healthgate.units import format_duration

QUERY_FIELDS = ("index", "name", "utilization.gpu", "memory.used", "memory.total")
QUERY_ARGS = (f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits")
NO_DEVICE_MARKERS = ("No devices were found",)
UNAVAILABLE = ("[N/A]", "[Not Supported]", "N/A", "")


class GpuThresholds(Model):
    memory_pct: float = Field(90.0, gt=0, le=100, description="memory.used below this % of memory.total "
                                                              "(seeds: GPU memory < 90 %)")
    utilization_pct: float | None = Field(None, gt=0, le=100,
                                          description="utilisation ceiling; unset: reported, not judged")


class Settings(TargetSettings):
    command: str = Field("nvidia-smi", description="nvidia-smi executable: a name looked up on PATH, or a path")
    index: Literal["all"] | int | tuple[int, ...] = Field("all", description="GPU index(es) to judge, or all")
    thresholds: GpuThresholds = GpuThresholds()

    def address(self) -> str:
        return f"local {self.command}"

    def wanted(self) -> tuple[int, ...] | None:
        """Indexes to judge; None means every GPU present."""
        if self.index == "all":
            return None
        return (self.index,) if isinstance(self.index, int) else self.index


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    utilization_pct: float | None  # None when the driver reports [N/A] / [Not Supported]
    memory_used_mib: float | None
    memory_total_mib: float | None

    @property
    def memory_pct(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return 100.0 * self.memory_used_mib / self.memory_total_mib


@dataclass
class GpuReport:
    gpus: list[Gpu] = field(default_factory=list)
    absent: str = ""  # why there is nothing to check; empty when nvidia-smi answered
    command: str = ""
    output: str = ""


class Client(BaseClient):
    """Runs ``nvidia-smi`` once per call; nothing is kept open."""

    settings: Settings

    def query(self) -> GpuReport:
        executable = shutil.which(self.settings.command)
        if executable is None:
            return GpuReport(absent=f"{self.settings.command} not found on PATH: no NVIDIA driver on this host")
        argv = [executable, *QUERY_ARGS]
        shown = " ".join([self.settings.command, *QUERY_ARGS])
        self.connect_attempts += 1
        returncode, stdout, stderr = _run(argv, self.timeouts.read, shown)
        output = (stdout + stderr).strip()
        if any(marker in output for marker in NO_DEVICE_MARKERS):
            return GpuReport(absent=f"{self.settings.command}: no GPU on this host ({output[:200]})",
                             command=shown, output=output)
        if returncode != 0:
            raise Unreachable(f"`{shown}` exited with {returncode}: {output[:300]}",
                              hint="is the NVIDIA driver loaded (`lsmod | grep nvidia`)? does `nvidia-smi` run?")
        return GpuReport(gpus=parse_query(stdout), command=shown, output=stdout)


def _run(argv: list[str], timeout: float, shown: str) -> tuple[int, str, str]:
    """Run in its own process group and kill the whole group on timeout: a wrapper script's children would
    otherwise keep the output pipes open and the wait would outlast the timeout."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    except OSError as exc:
        raise Unreachable(f"cannot run {argv[0]}: {exc}", hint="is it executable by this user?") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise Unreachable(f"`{shown}` did not answer within {format_duration(timeout)}",
                          hint="a hung driver or a GPU fallen off the bus: check `dmesg | grep -i xid`") from None
    return proc.returncode, stdout, stderr


def parse_query(text: str) -> list[Gpu]:
    """Rows of ``--query-gpu=index,name,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits``."""
    gpus = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if not row or not "".join(row).strip():
            continue
        if len(row) < len(QUERY_FIELDS):
            raise BadResponse(f"nvidia-smi row has {len(row)} fields, expected {len(QUERY_FIELDS)}: {row!r}",
                              hint="an nvidia-smi too old for these --query-gpu fields?")
        # A name with a comma would split in two: the index leads and the three numbers trail, whatever the name.
        index, *name_parts, util, used, total = (cell.strip() for cell in row)
        try:
            gpus.append(Gpu(int(index), ", ".join(name_parts), _number(util), _number(used), _number(total)))
        except ValueError:
            raise BadResponse(f"nvidia-smi row is not index,name,number,number,number: {row!r}",
                              hint="was --format=csv,noheader,nounits honoured?") from None
    return gpus


def _number(cell: str) -> float | None:
    return None if cell in UNAVAILABLE else float(cell)
