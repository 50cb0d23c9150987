"""Alertmanager: healthy and ready, and the alerts firing now (a deployment must not start during an incident).

The client reads ``/-/healthy``, ``/-/ready``, ``/api/v2/alerts`` and ``/api/v2/silences``; sorting alerts into
blocking, silenced and inhibited is done by pure functions, tested from recorded API payloads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.alertmanager.client import Client
    from healthgate.targets.alertmanager.settings import Settings
    from healthgate.targets.base import Target

    # What a check's ``alertmanager`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    AlertmanagerTarget: TypeAlias = Target[Settings, Client]
