"""The only code that talks to a opensearch target: read-only, with timeouts on every call."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing, Unreachable
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.opensearch.facts import (
    Count,
    DiskSettings,
    Health,
    Hits,
    NodeDisk,
    NotFound,
    Shard,
    Snapshot,
    disk_settings,
    error_of,
    node_disks,
)
from healthgate.targets.opensearch.settings import Settings

MAX_BODY = 8 * 1024 * 1024
SAMPLE_DOCS = 5
# What a 403 on each endpoint family asks for, so the message names the grant.
GRANTS = {
    "_cluster": "cluster permission cluster_monitor",
    "_nodes": "cluster permission cluster_monitor",
    "_cat": "cluster permission cluster_monitor",
    "_snapshot": "cluster permissions cluster:admin/repository/get and cluster:admin/snapshot/get",
}


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

    def documents(self, pattern: str) -> int:
        """Every document of the indices matching ``pattern``; 0 when none matches, so an index a deploy deleted
        reads as a loss of its documents rather than as an error (needs read on those indices)."""
        data = self._request("GET", f"/{quote(pattern, safe='*,-_.+')}/_count",
                             params={"allow_no_indices": "true", "ignore_unavailable": "true"})
        try:
            return int(data["count"])
        except (KeyError, TypeError, ValueError):
            raise BadResponse(f"_count on {pattern} answered {str(data)[:200]}") from None

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






