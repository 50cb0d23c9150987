"""Redis servers: reachability, memory, evictions, replication, persistence, cache hygiene and latency.

The client sends only commands of ``READ_ONLY_COMMANDS`` (PING, INFO, SCAN, DBSIZE), so a least-privilege ACL
user is enough: ``ACL SETUSER healthgate on >pw -@all +@read -@dangerous +info +ping ~*``. ROLE and LATENCY are
``@admin``: replication facts come from ``INFO replication`` instead. Keys are counted with SCAN bounded by call
size, keys examined and time, never with KEYS, which blocks the server while it walks the whole keyspace.
"""
