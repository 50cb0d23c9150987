"""Redis fingerprint: DBSIZE and key counts per pattern, counted with SCAN bounded by keys and time.

Needs ``+@read`` (SCAN, DBSIZE) only. A count cut short by the bounds is recorded as incomplete and never judged:
a partial count compared with a full one would report a loss that did not happen.
"""

from __future__ import annotations

import time
from typing import Any

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.targets.base import Timeouts

DEFAULT_SCAN_COUNT = 500
DEFAULT_MAX_KEYS = 100_000
DEFAULT_MAX_SECONDS = 2.0


def connect(url: str, timeouts: Timeouts) -> Any:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, socket_connect_timeout=timeouts.connect, socket_timeout=timeouts.read,
                                retry=Retry(NoBackoff(), 0), decode_responses=False)


def count_pattern(client: Any, pattern: str, *, count: int = DEFAULT_SCAN_COUNT, max_keys: int = DEFAULT_MAX_KEYS,
                  max_seconds: float = DEFAULT_MAX_SECONDS) -> dict[str, Any]:
    """Keys matching ``pattern``; ``complete`` is False when a bound stopped the walk."""
    deadline = time.monotonic() + max_seconds
    cursor, matched, examined = 0, 0, 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=pattern, count=count)
        matched += len(keys)
        examined += count
        if cursor == 0:
            return {"count": matched, "complete": True}
        if examined >= max_keys or time.monotonic() > deadline:
            return {"count": matched, "complete": False}


def fingerprint(url: str, patterns: tuple[str, ...], timeouts: Timeouts, *, scan: Any = None,
                where: str = "redis") -> dict[str, Any]:
    import redis

    count = int(getattr(scan, "count", DEFAULT_SCAN_COUNT))
    max_keys = int(getattr(scan, "max_keys", DEFAULT_MAX_KEYS))
    max_seconds = float(getattr(scan, "max_seconds", DEFAULT_MAX_SECONDS))
    client = connect(url, timeouts)
    try:
        return {
            "dbsize": int(client.dbsize()),
            "patterns": {pattern: count_pattern(client, pattern, count=count, max_keys=max_keys,
                                                      max_seconds=max_seconds) for pattern in patterns},
        }
    except redis.AuthenticationError as exc:
        raise AuthFailed(f"{where} refused the login: {exc}", hint="check the URL's user and password") from None
    except redis.exceptions.NoPermissionError as exc:
        raise PermissionMissing(f"{where}: {exc}", hint="the fingerprint needs SCAN and DBSIZE: ACL +@read") from None
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise Unreachable(f"{where}: {exc}", hint="is the server up and the URL right?") from None
    except redis.RedisError as exc:
        raise BadResponse(f"{where}: {type(exc).__name__}: {exc}") from None
    finally:
        client.close()
