"""GPU: memory headroom and utilisation of the host's NVIDIA GPUs (seeds: GPU memory < 90 %).

Needs permission to run ``nvidia-smi`` on the host; skipped where there is no nvidia-smi or no GPU.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from healthgate.check import ALL, DAILY, check
from healthgate.expect import evidence, expect, fail, note

if TYPE_CHECKING:
    from healthgate.targets.gpu import GpuTarget


def _gpus(gpu):
    report = gpu.client.query()
    if report.absent:
        pytest.skip(report.absent)
    evidence(report.command, report.output)
    wanted = gpu.settings.wanted()
    if wanted is None:
        if not report.gpus:
            pytest.skip(f"{report.command} listed no GPU")
        return report.gpus
    present = {g.index for g in report.gpus}
    missing = [i for i in wanted if i not in present]
    if missing:
        fail(gpu, f"GPU index {', '.join(map(str, missing))} not present (present: "
                  f"{', '.join(map(str, sorted(present))) or 'none'}) — a GPU fell off the bus or the driver "
                  "lost it: check `nvidia-smi -L` and `dmesg | grep -i xid`")
    return [g for g in report.gpus if g.index in wanted]


@check(phases=ALL, severity="warning", runbook="gpu-memory")
def test_gpu_memory(gpu: GpuTarget):
    """Each GPU's memory.used stays below the threshold share of memory.total (seeds: GPU memory < 90 %).

    Needs: permission to run nvidia-smi (any user on a host with the NVIDIA driver)."""
    problems = []
    for card in _gpus(gpu):
        pct = card.memory_pct
        if pct is None:
            note(f"GPU {card.index} ({card.name}) does not report memory use")
            continue
        try:
            expect(gpu, f"memory_pct[gpu {card.index}]", round(pct, 1), "<", gpu.thresholds.memory_pct, unit="%")
        except pytest.fail.Exception as exc:
            problems.append(f"{str(exc.msg).removeprefix(f'{gpu.id}: ')} ({card.name}: "
                            f"{card.memory_used_mib:.0f} of {card.memory_total_mib:.0f} MiB)")
    if problems:
        fail(gpu, "; ".join(problems) + " — model inference will hit CUDA out-of-memory: find the process "
                                        "(`nvidia-smi`), look for a leak or a model loaded twice")


@check(phases=(DAILY,), severity="warning", runbook="gpu-utilization")
def test_gpu_utilization(gpu: GpuTarget):
    """Reports each GPU's utilisation; judged only when thresholds.utilization_pct is set.

    Needs: permission to run nvidia-smi (any user on a host with the NVIDIA driver)."""
    limit = gpu.thresholds.utilization_pct
    for card in _gpus(gpu):
        if card.utilization_pct is None:
            note(f"GPU {card.index} ({card.name}) does not report utilisation")
            continue
        if limit is None:
            note(f"GPU {card.index} ({card.name}): {card.utilization_pct:.0f}% busy")
            continue
        expect(gpu, f"utilization_pct[gpu {card.index}]", card.utilization_pct, "<", limit, unit="%",
               hint="saturated GPU: prediction latency grows; check the ML queue length and the workers")
