"""PostgreSQL servers: reachability, connections, sessions, replication, statement times, maintenance, schema.

The client opens one read-only session per target per worker (``default_transaction_read_only=on``, a
``statement_timeout`` equal to the read timeout and a shorter ``lock_timeout``) and runs only SELECTs on statistics
views and catalogs. A monitoring login with ``pg_monitor`` and CONNECT on the database is enough for every check but
the schema-version one, which needs SELECT on the migrations table:

    CREATE ROLE healthgate LOGIN PASSWORD '...';
    GRANT pg_monitor TO healthgate;
    GRANT CONNECT ON DATABASE app TO healthgate;
    GRANT SELECT ON schema_migrations TO healthgate;   -- only with a `migrations:` setting

Without ``pg_read_all_stats`` (part of ``pg_monitor``) PostgreSQL hides the state and query of other roles'
sessions instead of refusing: checks that would then undercount raise ``PermissionMissing`` rather than pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from healthgate.targets.base import Target
    from healthgate.targets.postgres.client import Client
    from healthgate.targets.postgres.settings import Settings

    # What a check's ``postgres`` parameter is; imported under TYPE_CHECKING only, so collection loads no client.
    PostgresTarget: TypeAlias = Target[Settings, Client]
