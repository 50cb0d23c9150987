"""OpenSearch fingerprint: document counts per index pattern through ``GET <pattern>/_count``.

Needs read on the indices (``indices:data/read/search`` for _count). A pattern that matches no index counts 0,
so an index deleted by a deploy shows as a loss rather than as an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from healthgate.errors import AuthFailed, BadResponse, Unreachable
from healthgate.targets.base import Timeouts, http_client


def fingerprint(settings: Any, patterns: tuple[str, ...], timeouts: Timeouts, *,
                where: str = "opensearch") -> dict[str, Any]:
    """``settings`` is the OpenSearch target's: its address, credentials and TLS trust, as its checks use them."""
    import httpx

    from healthgate.targets.opensearch.settings import base_url

    counts: dict[str, int] = {}
    with http_client(settings, timeouts, base_url=base_url(settings.url), auth=settings.credentials(),
                     json_api=True) as client:
        for pattern in patterns:
            path = f"/{quote(pattern, safe='*,-_.+')}/_count"
            try:
                response = client.get(path, params={"ignore_unavailable": "true", "allow_no_indices": "true"})
            except httpx.HTTPError as exc:
                raise Unreachable(f"{where}: GET {path} failed: {type(exc).__name__}: {exc}",
                                  hint="is the cluster up and the URL right?") from None
            if response.status_code in (401, 403):
                raise AuthFailed(f"{where}: GET {path} answered {response.status_code}",
                                 hint="the user needs read on these indices") from None
            if response.status_code >= 300:
                raise BadResponse(f"{where}: GET {path} answered {response.status_code}: {response.text[:200]}")
            try:
                counts[pattern] = int(response.json()["count"])
            except (ValueError, KeyError, TypeError):
                raise BadResponse(f"{where}: GET {path} did not return a count: {response.text[:200]}") from None
    return {"indices": counts}
