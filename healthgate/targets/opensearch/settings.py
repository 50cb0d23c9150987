"""What a profile may say about a opensearch target: its address, credentials and thresholds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from healthgate.targets.base import Model, TargetSettings
from healthgate.units import Duration


class LogsSpec(Model):
    """Where the application's logs land and what counts as trouble in them (seeds: ``ai-logs-*``)."""

    index: str = Field("ai-logs-*", description="index pattern the log shipper writes to")
    timestamp_field: str = Field("@timestamp", description="date field the time window applies to")
    window: Duration = Field(15 * 60.0, description="how far back the log checks look")
    min_docs: int = Field(1, ge=0, description="fewest documents that must have arrived within the window")
    error_query: dict[str, Any] = Field(
        default_factory=lambda: {"term": {"level": "error"}},
        description="OpenSearch query selecting error entries (default: level is error)")
    max_errors: int = Field(50, ge=0, description="most error entries allowed within the window")
    threat_field: str = Field("event_type", description="field holding the security event type")
    threat_value: str = Field("security_threat", description="value marking a security threat (prompt injection)")
    max_threats: int = Field(0, ge=0, description="most security threat events allowed within the window")


class SnapshotSpec(Model):
    repository: str = Field("backup_repo", description="snapshot repository to inspect (seeds: backup_repo)")
    max_age: Duration = Field(26 * 3600.0, description="newest successful snapshot must be younger than this")


class Settings(TargetSettings):
    url: str = Field(description="http(s)://[user:password@]host:9200")
    username: str | None = Field(None, description="basic auth user (or put the credentials in the URL)")
    password: SecretStr | None = Field(None, description="basic auth password")
    verify_tls: bool = Field(True, description="verify the server certificate")
    allow_yellow: bool = Field(False, description="accept a yellow cluster (unassigned replicas), with a note")
    logs: LogsSpec | None = Field(LogsSpec(), description="log ingestion checks; null when the cluster holds no logs")
    snapshots: SnapshotSpec | None = Field(None, description="snapshot freshness check; unset: the check skips")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL; e.g. https://logs.internal:9200")
        return value

    def address(self) -> str:
        return base_url(self.url)

    def credentials(self) -> tuple[str, str] | None:
        if self.username is not None:
            secret = self.password.get_secret_value() if self.password is not None else ""
            return self.username, secret
        parts = urlsplit(self.url)
        if parts.username is not None:
            return parts.username, parts.password or ""
        return None


def base_url(url: str) -> str:
    """The URL without user, password, query or trailing slash."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
