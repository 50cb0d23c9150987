"""The only code that talks to a gpu target: read-only, with timeouts on every call."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess

from healthgate.errors import BadResponse, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.gpu.facts import NO_DEVICE_MARKERS, QUERY_ARGS, QUERY_FIELDS, UNAVAILABLE, Gpu, GpuReport
from healthgate.targets.gpu.settings import Settings
from healthgate.units import format_duration


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
