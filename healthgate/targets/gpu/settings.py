"""What a profile may say about a gpu target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from healthgate.targets.base import Model, TargetSettings


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
