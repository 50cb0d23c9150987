"""Redis servers: reachability, memory, evictions, replication, persistence, cache hygiene and latency.

The client sends only commands of ``READ_ONLY_COMMANDS`` (PING, INFO, SCAN, DBSIZE), so a least-privilege ACL
user is enough: ``ACL SETUSER healthgate on >pw -@all +@read -@dangerous +info +ping ~*``. ROLE and LATENCY are
``@admin``: replication facts come from ``INFO replication`` instead. Keys are counted with SCAN bounded by call
size, keys examined and time, never with KEYS, which blocks the server while it walks the whole keyspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.redis.client import Client
    from healthgate.targets.redis.settings import Settings

    # What a check's ``redis`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    RedisTarget: TypeAlias = Target[Settings, Client]
