"""The only code that talks to a opensearch target: read-only, with timeouts on every call."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from healthgate.errors import AuthFailed, BadResponse, PermissionMissing
from healthgate.targets.base import Client as BaseClient
from healthgate.targets.base import Timeouts
from healthgate.targets.opensearch.facts import (
    SEARCH_TIMEOUT_SHARE,
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
    index_names,
    node_disks,
    parse_health,
    parse_hits,
    parse_shards,
    parse_snapshots,
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
            from healthgate.targets._transport import http_client

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
        from healthgate.targets._transport import decode_json, fetch

        client = self._client()
        where = self._where(method, path)
        self.connect_attempts += 1
        answer = fetch(client, method, path, shown=f"{self.settings.address()}{path}", timeouts=self.timeouts,
                       product="OpenSearch node", limit=MAX_BODY, params=params, json=body)
        if answer.truncated:
            raise BadResponse(f"{where} answered more than {MAX_BODY} bytes",
                              hint="the cluster holds more shards or snapshots than this check reads")
        status = answer.status
        payload = {} if not answer.body else decode_json(
            answer.body, what=f"{where} answered HTTP {status}", content_type=answer.headers.get("content-type", ""),
            hint="is this the OpenSearch REST port, not a proxy or Dashboards?")
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

    def _where(self, method: str, path: str) -> str:
        return f"{method} {self.settings.address()}{path}"

    def health(self) -> Health:
        return parse_health(self._get("/_cluster/health"), self._where("GET", "/_cluster/health"))

    def indices_with_health(self, health: str, limit: int = 10) -> list[str]:
        """Names of indices whose health is ``health`` (red/yellow), at most ``limit``."""
        rows = self._get("/_cat/indices", health=health, h="index", format="json", s="index")
        return index_names(rows, self._where("GET", "/_cat/indices"))[:limit]

    def unassigned_shards(self) -> list[Shard]:
        rows = self._get("/_cat/shards", format="json", h="index,shard,prirep,state,unassigned.reason")
        return [s for s in parse_shards(rows, self._where("GET", "/_cat/shards")) if s.state == "UNASSIGNED"]

    def disk_settings(self) -> DiskSettings:
        data = self._get("/_cluster/settings", include_defaults="true", flat_settings="true")
        try:
            return disk_settings(data, self._where("GET", "/_cluster/settings"))
        except ValueError as exc:
            raise BadResponse(f"_cluster/settings on {self.settings.address()}: {exc}") from None

    def node_disks(self) -> list[NodeDisk]:
        data = self._get("/_nodes/stats/fs", filter_path="nodes.*.name,nodes.*.fs.total")
        nodes = node_disks(data, self._where("GET", "/_nodes/stats/fs"))
        if not nodes:
            raise BadResponse(f"_nodes/stats/fs on {self.settings.address()} reported no node file system",
                              hint="does the monitoring role see node stats (cluster_monitor)?")
        return nodes

    def search_timeout(self) -> str:
        """The ``timeout`` every search sends: a share of the read timeout, so a slow cluster answers ``timed_out``
        (reported as partial) before the client gives up reading."""
        return f"{max(1, round(self.timeouts.read * 1000 * SEARCH_TIMEOUT_SHARE))}ms"

    def _search(self, index: str, body: dict[str, Any], params: dict[str, str], *,
                safe: str = "*,") -> tuple[dict[str, Any], Hits]:
        """The body sent (with the search timeout) and the hits of one ``_search``; partial results (timed out,
        failed shards) raise BadResponse: a count over part of the data can be too low."""
        full = {**body, "timeout": self.search_timeout()}
        path = f"/{quote(index, safe=safe)}/_search"
        data = self._request("POST", path, params=params, body=full)
        return full, parse_hits(data, index, full, self._where("POST", path))

    def count(self, index: str, body: dict[str, Any]) -> Count:
        """Documents matching ``body`` in ``index`` (a ``_search`` of size 0: ``_count`` takes no timeout and
        cannot say it timed out); raises NotFound when no index matches the pattern."""
        full, hits = self._search(index, {**body, "size": 0, "track_total_hits": True},
                                  {"allow_no_indices": "false", "ignore_unavailable": "false"})
        return Count(index, full, hits.total)

    def documents(self, pattern: str) -> int:
        """Every document of the indices matching ``pattern``; 0 when none matches, so an index a deploy deleted
        reads as a loss of its documents rather than as an error (needs read on those indices)."""
        body = {"query": {"match_all": {}}, "size": 0, "track_total_hits": True}
        return self._search(pattern, body, {"allow_no_indices": "true", "ignore_unavailable": "true"},
                            safe="*,-_.+")[1].total

    def search(self, index: str, body: dict[str, Any], size: int = SAMPLE_DOCS,
               sort_field: str | None = None) -> Hits:
        """Up to ``size`` hits (newest first when ``sort_field`` is given) and the exact total."""
        full = {**body, "size": size, "track_total_hits": True}
        if sort_field:
            full["sort"] = [{sort_field: {"order": "desc", "unmapped_type": "date"}}]
        return self._search(index, full, {"allow_no_indices": "false"})[1]

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
        path = f"/_snapshot/{quote(repository, safe='')}/_all"
        data = self._get(path, filter_path="snapshots.snapshot,snapshots.state,snapshots.end_time_in_millis")
        return parse_snapshots(data, self._where("GET", path))
