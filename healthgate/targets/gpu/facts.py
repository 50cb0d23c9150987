"""What a gpu check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

from dataclasses import dataclass, field

QUERY_FIELDS = ("index", "name", "utilization.gpu", "memory.used", "memory.total")


QUERY_ARGS = (f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits")


NO_DEVICE_MARKERS = ("No devices were found",)


UNAVAILABLE = ("[N/A]", "[Not Supported]", "N/A", "")


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
