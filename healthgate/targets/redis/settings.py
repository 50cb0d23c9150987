"""What a profile may say about a redis target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration

SCHEMES = ("redis", "rediss", "unix")
DEFAULT_PORT = 6379


class CachePattern(Model):
    pattern: str = Field(description="SCAN MATCH glob, e.g. cache:*:expired")
    max: int = Field(ge=0, description="most keys allowed to match before the check fails")


class ScanLimits(Model):
    """Bounds of every SCAN walk, so counting keys never becomes a load on a large instance."""

    count: int = Field(500, ge=1, le=100_000, description="COUNT hint of each SCAN call")
    max_keys: int = Field(100_000, ge=1, description="stop after examining about this many keys")
    max_seconds: Duration = Field(2.0, description="stop after this long")


class RedisThresholds(Model):
    memory_used_pct: float = Field(80.0, gt=0, le=100,
                                   description="used_memory below this % of maxmemory (seeds: memory < 80 %)")
    max_evicted_keys: int = Field(0, ge=0, description="evicted_keys counter since start (INFO stats)")
    max_rejected_connections: int = Field(0, ge=0, description="rejected_connections counter since start")
    last_save_age: Duration = Field(26 * 3600.0, description="newest successful RDB save, when data changed since")
    ping_median: Duration = Field(0.010, description="median round trip of the PING samples")
    ping_max: Duration | None = Field(None, description="slowest PING sample allowed (unset: not judged)")


class Settings(TargetSettings):
    url: str = Field(description="redis://[user:password@]host:port/db (rediss:// for TLS, unix:///path.sock)")
    expect_role: Literal["master", "replica"] | None = Field(
        None, description="role the server must have; unset: a standalone master is not judged")
    min_replicas: int = Field(0, ge=0, description="replicas a master must have online")
    persistence: bool = Field(True, description="false for a pure cache without RDB/AOF: persistence checks skip")
    cache_patterns: tuple[CachePattern, ...] = Field((), description="key patterns counted with a bounded SCAN")
    scan: ScanLimits = ScanLimits()
    ping_samples: int = Field(7, ge=3, le=50, description="PINGs timed by the latency check")
    thresholds: RedisThresholds = RedisThresholds()

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in SCHEMES:
            raise ValueError(f"URL scheme must be one of {', '.join(SCHEMES)}, not {scheme or 'none'!r}; "
                             "e.g. redis://healthgate:${REDIS_PASSWORD}@cache.internal:6379/0")
        return value

    def address(self) -> str:
        return redis_address(self.url)

    @property
    def username(self) -> str:
        return urlsplit(self.url).username or "default"






def redis_address(url: str) -> str:
    """``redis://host:port/db`` without user or password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = DEFAULT_PORT
    db = parts.path.strip("/") or "0"
    return f"{parts.scheme}://{host}:{port}/{db}"
