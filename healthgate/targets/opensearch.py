"""OpenSearch clusters: health, shard allocation, disk watermarks, log ingestion, security events, snapshots.

The client speaks the REST API over httpx and sends only reads: GET on cluster and cat endpoints, and POST on
``_count``/``_search`` (a query body, no writes). A least-privilege role needs the cluster action group
``cluster_monitor`` (health, settings, node stats, cat shards), ``cluster:admin/repository/get`` and
``cluster:admin/snapshot/get`` for the snapshot check, and the index permission ``read`` on the logs pattern.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Model, TargetSettings, Timeouts
from healthgate.units import Duration

MAX_BODY = 8 * 1024 * 1024
SAMPLE_DOCS = 5
SAMPLE_DOC_CHARS = 1500

# What a 403 on each endpoint family asks for, so the message names the grant.
GRANTS = {
    "_cluster": "cluster permission cluster_monitor",
    "_nodes": "cluster permission cluster_monitor",
    "_cat": "cluster permission cluster_monitor",
    "_snapshot": "cluster permissions cluster:admin/repository/get and cluster:admin/snapshot/get",
}


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


# ------------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Health:
    status: str
    number_of_nodes: int
    active_shards: int
    unassigned_shards: int
    initializing_shards: int
    relocating_shards: int
    raw: dict[str, Any]


@dataclass(frozen=True)
class Shard:
    index: str
    shard: str
    primary: bool
    state: str
    reason: str

    def describe(self) -> str:
        kind = "primary" if self.primary else "replica"
        return f"{self.index}[{self.shard}] {kind}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Watermark:
    """A disk watermark as configured: a share of the disk used, or a minimum of free bytes."""

    setting: str
    raw: str
    used_pct: float | None = None
    free_bytes: int | None = None

    def used_pct_on(self, total_bytes: int) -> float:
        """The used share of a disk of ``total_bytes`` at which this watermark is crossed."""
        if self.used_pct is not None:
            return self.used_pct
        assert self.free_bytes is not None
        if total_bytes <= 0:
            return 100.0
        return max(0.0, 100.0 * (total_bytes - self.free_bytes) / total_bytes)


@dataclass(frozen=True)
class DiskSettings:
    low: Watermark
    high: Watermark
    flood_stage: Watermark
    threshold_enabled: bool
    single_data_node_enforced: bool | None


@dataclass(frozen=True)
class NodeDisk:
    name: str
    total_bytes: int
    available_bytes: int

    @property
    def used_pct(self) -> float:
        if self.total_bytes <= 0:
            return 0.0
        return 100.0 * (self.total_bytes - self.available_bytes) / self.total_bytes


@dataclass(frozen=True)
class Count:
    index: str
    body: dict[str, Any]
    count: int
    shards_failed: int


@dataclass(frozen=True)
class Hits:
    index: str
    body: dict[str, Any]
    total: int
    docs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Snapshot:
    name: str
    state: str
    end_time_ms: int | None


# ------------------------------------------------------------------------------------------ pure helpers

_BYTE_UNITS = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4, "pb": 1024**5}
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb|pb)$")


def parse_watermark(setting: str, raw: str) -> Watermark:
    """``85%`` or ``0.85`` (share of the disk used) or ``500mb`` (free space left), as OpenSearch accepts them."""
    text = str(raw).strip().lower()
    try:
        if text.endswith("%"):
            return Watermark(setting, str(raw), used_pct=float(text[:-1]))
        ratio = float(text)
    except ValueError:
        pass
    else:
        if 0.0 <= ratio <= 1.0:
            return Watermark(setting, str(raw), used_pct=ratio * 100.0)
        raise ValueError(f"{setting}={raw!r}: a ratio must be between 0 and 1")
    match = _BYTES.match(text)
    if match is None:
        raise ValueError(f"{setting}={raw!r} is neither a percentage, a ratio nor a byte size")
    return Watermark(setting, str(raw), free_bytes=int(float(match.group(1)) * _BYTE_UNITS[match.group(2)]))


def effective_setting(settings: dict[str, Any], key: str) -> Any:
    """The value a flat ``_cluster/settings?include_defaults`` answer gives ``key``: transient wins over
    persistent, which wins over the node's default."""
    for scope in ("transient", "persistent", "defaults"):
        values = settings.get(scope) or {}
        if key in values and values[key] is not None:
            return values[key]
    return None


DISK_PREFIX = "cluster.routing.allocation.disk."


def disk_settings(settings: dict[str, Any]) -> DiskSettings:
    marks = {}
    for level, fallback in (("low", "85%"), ("high", "90%"), ("flood_stage", "95%")):
        key = f"{DISK_PREFIX}watermark.{level}"
        marks[level] = parse_watermark(key, str(effective_setting(settings, key) or fallback))
    enabled = str(effective_setting(settings, f"{DISK_PREFIX}threshold_enabled") or "true").lower() == "true"
    single = effective_setting(settings, f"{DISK_PREFIX}watermark.enable_for_single_data_node")
    return DiskSettings(marks["low"], marks["high"], marks["flood_stage"], enabled,
                        None if single is None else str(single).lower() == "true")


def node_disks(stats: dict[str, Any]) -> list[NodeDisk]:
    nodes = []
    for node_id, node in sorted((stats.get("nodes") or {}).items()):
        total = ((node.get("fs") or {}).get("total") or {})
        if "total_in_bytes" not in total:
            continue
        nodes.append(NodeDisk(str(node.get("name", node_id)), int(total["total_in_bytes"]),
                              int(total.get("available_in_bytes", total.get("free_in_bytes", 0)))))
    return nodes


def window_query(timestamp_field: str, window_s: float, *extra: dict[str, Any]) -> dict[str, Any]:
    """A query for documents stamped within the last ``window_s`` seconds of the cluster's clock, ANDed with
    ``extra`` queries (scored ones go to ``must`` so a ``match`` behaves as in the runbook)."""
    since = {"range": {timestamp_field: {"gte": f"now-{max(1, round(window_s))}s"}}}
    query: dict[str, Any] = {"bool": {"filter": [since]}}
    if extra:
        query["bool"]["must"] = list(extra)
    return {"query": query}


def newest_successful(snapshots: list[Snapshot]) -> Snapshot | None:
    done = [s for s in snapshots if s.state == "SUCCESS" and s.end_time_ms is not None]
    return max(done, key=lambda s: s.end_time_ms or 0, default=None)


def error_of(payload: Any) -> tuple[str, str]:
    """(type, reason) of an OpenSearch error answer, using the root cause when there is one."""
    if not isinstance(payload, dict):
        return "", str(payload)[:200]
    error = payload.get("error")
    if isinstance(error, str):
        return "", error
    if not isinstance(error, dict):
        return "", json.dumps(payload)[:200]
    causes = error.get("root_cause") or []
    first = causes[0] if causes and isinstance(causes[0], dict) else error
    return str(first.get("type", error.get("type", ""))), str(first.get("reason", error.get("reason", "")))


def trim_doc(hit: dict[str, Any], limit: int = SAMPLE_DOC_CHARS) -> str:
    """One search hit as one line of JSON, cut at ``limit`` characters (prompts can be long)."""
    shown = {"_index": hit.get("_index"), "_id": hit.get("_id"), **(hit.get("_source") or {})}
    text = json.dumps(shown, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


# ------------------------------------------------------------------------------------------------ client


class NotFound(BadResponse):
    """A 404 a check turns into a verdict (missing index pattern, missing repository); left uncaught it reports
    the check broken, like any other answer we could not use."""

    def __init__(self, kind: str, reason: str, where: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{where} answered 404: {kind}: {reason}")


class Client(BaseClient):
    """One pooled httpx client per target per worker; every request has connect and read timeouts."""

    settings: Settings

    def __init__(self, settings: Settings, timeouts: Timeouts) -> None:
        super().__init__(settings, timeouts)
        self._http: Any = None

    def _client(self) -> Any:
        if self._http is None:
            from healthgate.redact import register_secret
            from healthgate.targets.base import http_client

            credentials = self.settings.credentials()
            if credentials is not None:
                register_secret(credentials[1])
            self._http = http_client(self.settings, self.timeouts, base_url=self.settings.address(), auth=credentials,
                                     json_api=True)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                 body: dict[str, Any] | None = None) -> Any:
        """JSON answer of one request; a 404 becomes ``NotFound`` for the caller to judge."""
        import httpx

        client = self._client()
        where = f"{method} {self.settings.address()}{path}"
        self.connect_attempts += 1
        deadline = time.monotonic() + self.timeouts.read
        try:
            with client.stream(method, path, params=params, json=body) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY:
                        raise BadResponse(f"{where} answered more than {MAX_BODY} bytes",
                                          hint="the cluster holds more shards or snapshots than this check reads")
                    if time.monotonic() > deadline:
                        raise Unreachable(f"{where}: answer still streaming after the {self.timeouts.read:g}s "
                                          "read timeout", hint="is the cluster overloaded?")
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise Unreachable(f"{where} timed out ({type(exc).__name__}, connect {self.timeouts.connect:g}s / "
                              f"read {self.timeouts.read:g}s)",
                              hint="is the node up, not paused or in a long GC, and reachable from here?") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{where} failed: {type(exc).__name__}: {exc}",
                              hint="is the node up, and the URL's host and port right?") from None
        raw = b"".join(chunks)
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            excerpt = raw[:120].decode("utf-8", errors="replace").replace("\n", " ")
            raise BadResponse(f"{where} answered HTTP {status} with non-JSON: {excerpt!r}",
                              hint="is this the OpenSearch REST port, not a proxy or Dashboards?") from None
        if status < 300:
            return payload
        kind, reason = error_of(payload)
        if status == 401:
            user = (self.settings.credentials() or ("(none)", ""))[0]
            raise AuthFailed(f"{where} refused the credentials of user {user!r}: {reason or 'HTTP 401'}",
                             hint="check username/password (or the URL's credentials) for this target")
        if status == 403:
            family = path.lstrip("/").split("/", 1)[0]
            grant = GRANTS.get(family, "index permission read on the logs index pattern")
            raise PermissionMissing(f"{where} was refused: {reason or 'HTTP 403'}",
                                    hint=f"the monitoring role needs the {grant}")
        if status == 404:
            raise NotFound(kind, reason, where)
        raise BadResponse(f"{where} answered HTTP {status}: {kind}: {reason}".rstrip(": "),
                          hint="see the cluster's log for the cause" if status >= 500
                          else "the request was refused as invalid: check the query settings of this target")

    def _get(self, path: str, **params: str) -> Any:
        return self._request("GET", path, params=params or None)

    # -- observations

    def health(self) -> Health:
        data = self._get("/_cluster/health")
        try:
            return Health(str(data["status"]), int(data["number_of_nodes"]), int(data["active_shards"]),
                          int(data["unassigned_shards"]), int(data.get("initializing_shards", 0)),
                          int(data.get("relocating_shards", 0)), data)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadResponse(f"_cluster/health on {self.settings.address()} lacks {exc}: {str(data)[:200]}",
                              hint="is this an OpenSearch cluster?") from None

    def indices_with_health(self, health: str, limit: int = 10) -> list[str]:
        """Names of indices whose health is ``health`` (red/yellow), at most ``limit``."""
        rows = self._get("/_cat/indices", health=health, h="index", format="json", s="index")
        return [str(row.get("index")) for row in rows[:limit]] if isinstance(rows, list) else []

    def unassigned_shards(self) -> list[Shard]:
        rows = self._get("/_cat/shards", format="json", h="index,shard,prirep,state,unassigned.reason")
        if not isinstance(rows, list):
            raise BadResponse(f"_cat/shards on {self.settings.address()} answered {str(rows)[:120]}")
        return [Shard(str(r.get("index")), str(r.get("shard")), r.get("prirep") == "p", str(r.get("state")),
                      str(r.get("unassigned.reason") or ""))
                for r in rows if r.get("state") == "UNASSIGNED"]

    def disk_settings(self) -> DiskSettings:
        data = self._get("/_cluster/settings", include_defaults="true", flat_settings="true")
        try:
            return disk_settings(data)
        except ValueError as exc:
            raise BadResponse(f"_cluster/settings on {self.settings.address()}: {exc}") from None

    def node_disks(self) -> list[NodeDisk]:
        data = self._get("/_nodes/stats/fs", filter_path="nodes.*.name,nodes.*.fs.total")
        nodes = node_disks(data)
        if not nodes:
            raise BadResponse(f"_nodes/stats/fs on {self.settings.address()} reported no node file system",
                              hint="does the monitoring role see node stats (cluster_monitor)?")
        return nodes

    def count(self, index: str, body: dict[str, Any]) -> Count:
        """Documents matching ``body`` in ``index``; raises NotFound when no index matches the pattern."""
        data = self._request("POST", f"/{quote(index, safe='*,')}/_count",
                             params={"allow_no_indices": "false", "ignore_unavailable": "false"}, body=body)
        try:
            return Count(index, body, int(data["count"]), int((data.get("_shards") or {}).get("failed", 0)))
        except (KeyError, TypeError, ValueError):
            raise BadResponse(f"_count on {index} answered {str(data)[:200]}") from None

    def search(self, index: str, body: dict[str, Any], size: int = SAMPLE_DOCS,
               sort_field: str | None = None) -> Hits:
        """Up to ``size`` hits (newest first when ``sort_field`` is given) and the exact total."""
        full = {**body, "size": size, "track_total_hits": True}
        if sort_field:
            full["sort"] = [{sort_field: {"order": "desc", "unmapped_type": "date"}}]
        data = self._request("POST", f"/{quote(index, safe='*,')}/_search",
                             params={"allow_no_indices": "false"}, body=full)
        try:
            hits = data["hits"]
            total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
            return Hits(index, full, int(total), tuple(hits.get("hits") or ()))
        except (KeyError, TypeError, ValueError):
            raise BadResponse(f"_search on {index} answered {str(data)[:200]}") from None

    def newest_timestamp(self, index: str, timestamp_field: str) -> str | None:
        """The newest value of ``timestamp_field`` in ``index``, whatever its age."""
        body = {"query": {"match_all": {}}, "_source": [timestamp_field]}
        hits = self.search(index, body, size=1, sort_field=timestamp_field)
        if not hits.docs:
            return None
        value = (hits.docs[0].get("_source") or {}).get(timestamp_field)
        return None if value is None else str(value)

    def snapshots(self, repository: str) -> list[Snapshot]:
        """Every snapshot of ``repository``; raises NotFound when the repository is not registered."""
        data = self._get(f"/_snapshot/{quote(repository, safe='')}/_all",
                         filter_path="snapshots.snapshot,snapshots.state,snapshots.end_time_in_millis")
        rows = (data.get("snapshots") or []) if isinstance(data, dict) else []
        return [Snapshot(str(r.get("snapshot")), str(r.get("state")),
                         int(r["end_time_in_millis"]) if r.get("end_time_in_millis") else None) for r in rows]
