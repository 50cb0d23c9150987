"""NVIDIA GPUs of the local host, through ``nvidia-smi``'s CSV query (memory used/total and utilisation).

``nvidia-smi`` is run as a child process with the read timeout; a host without it, or without a GPU, is reported
as absent so the checks skip instead of failing. Any user that may run ``nvidia-smi`` can run these checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.gpu.client import Client
    from healthgate.targets.gpu.settings import Settings

    # What a check's ``gpu`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    GpuTarget: TypeAlias = Target[Settings, Client]
