"""OpenSearch clusters: health, shard allocation, disk watermarks, log ingestion, security events, snapshots.

The client speaks the REST API over httpx and sends only reads: GET on cluster and cat endpoints, and POST on
``_search`` (a query body with a timeout, no writes; an answer with partial results is *could not check*). A
least-privilege role needs the cluster action group ``cluster_monitor`` (health, settings, node stats, cat shards),
``cluster:admin/repository/get`` and ``cluster:admin/snapshot/get`` for the snapshot check, and the index permission
``read`` on the logs pattern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.opensearch.client import Client
    from healthgate.targets.opensearch.settings import Settings

    # What a check's ``opensearch`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    OpenSearchTarget: TypeAlias = Target[Settings, Client]
