"""Target kinds, looked up lazily: a new kind is one package (``settings.py``, ``facts.py``, ``client.py``) plus
one line here, and a client library is imported only when a profile uses that kind."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

KINDS: dict[str, str] = {
    "http": "healthgate.targets.http",
    "tls": "healthgate.targets.tls",
    "postgres": "healthgate.targets.postgres",
    "redis": "healthgate.targets.redis",
    "opensearch": "healthgate.targets.opensearch",
    "prometheus": "healthgate.targets.prometheus",
    "alertmanager": "healthgate.targets.alertmanager",
    "disk": "healthgate.targets.disk",
    "backups": "healthgate.targets.backups",
    "gpu": "healthgate.targets.gpu",
}


def available_kinds() -> list[str]:
    """Kinds whose module is present in this installation."""
    found = []
    for kind, module in KINDS.items():
        if importlib.util.find_spec(module) is not None:
            found.append(kind)
    return found


def settings_model(kind: str) -> Any:
    """The pydantic settings class of ``kind`` (its module must not import heavy clients at import time)."""
    return importlib.import_module(f"{KINDS[kind]}.settings").Settings


def client_class(kind: str) -> Any:
    return importlib.import_module(f"{KINDS[kind]}.client").Client
