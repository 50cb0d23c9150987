"""OpenSearch clusters: health, shard allocation, disk watermarks, log ingestion, security events, snapshots.

The client speaks the REST API over httpx and sends only reads: GET on cluster and cat endpoints, and POST on
``_count``/``_search`` (a query body, no writes). A least-privilege role needs the cluster action group
``cluster_monitor`` (health, settings, node stats, cat shards), ``cluster:admin/repository/get`` and
``cluster:admin/snapshot/get`` for the snapshot check, and the index permission ``read`` on the logs pattern.
"""
