"""What a opensearch check judges: the facts a client returns, and pure helpers over them."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from healthgate.errors import BadResponse
from healthgate.targets._shape import EXCERPT_CHARS, listing, mapping, shown, text, whole, wrong_shape

SAMPLE_DOC_CHARS = 1500
# Share of the read timeout a search may run on the server before it answers timed_out; the rest leaves room
# for the node to notice (it looks at the clock between batches of documents) and for the answer to arrive.
SEARCH_TIMEOUT_SHARE = 0.8


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


def effective_setting(settings: dict[str, Any], key: str, where: str = "_cluster/settings") -> Any:
    """The value a flat ``_cluster/settings?include_defaults`` answer gives ``key``: transient wins over
    persistent, which wins over the node's default."""
    for scope in ("transient", "persistent", "defaults"):
        values = mapping(settings.get(scope), where, scope, optional=True)
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str | int | float | bool):
            raise wrong_shape(where, f"{scope}.{key}", "a flat setting value", value)
        return value
    return None


DISK_PREFIX = "cluster.routing.allocation.disk."


def disk_settings(settings: Any, where: str = "_cluster/settings") -> DiskSettings:
    """Watermarks of a ``_cluster/settings?include_defaults&flat_settings`` answer. A watermark OpenSearch would
    not accept raises ValueError; an answer of another shape, BadResponse."""
    settings = mapping(settings, where, "the answer")

    def value(key: str) -> Any:
        return effective_setting(settings, DISK_PREFIX + key, where)

    marks = {}
    for level, fallback in (("low", "85%"), ("high", "90%"), ("flood_stage", "95%")):
        marks[level] = parse_watermark(f"{DISK_PREFIX}watermark.{level}", str(value(f"watermark.{level}") or fallback))
    enabled = str(value("threshold_enabled") or "true").lower() == "true"
    single = value("watermark.enable_for_single_data_node")
    return DiskSettings(marks["low"], marks["high"], marks["flood_stage"], enabled,
                        None if single is None else str(single).lower() == "true")


def node_disks(stats: Any, where: str = "_nodes/stats/fs") -> list[NodeDisk]:
    """File system totals of every node that reports one (``filter_path`` leaves out nodes without)."""
    nodes = []
    listed = mapping(mapping(stats, where, "the answer").get("nodes"), where, "nodes", optional=True)
    for node_id, node in sorted(listed.items()):
        node = mapping(node, where, f"nodes.{node_id}")
        fs = mapping(node.get("fs"), where, f"nodes.{node_id}.fs", optional=True)
        total = mapping(fs.get("total"), where, f"nodes.{node_id}.fs.total", optional=True)
        if "total_in_bytes" not in total:
            continue
        available = total.get("available_in_bytes", total.get("free_in_bytes", 0))
        nodes.append(NodeDisk(str(node.get("name", node_id)),
                              whole(total["total_in_bytes"], where, f"nodes.{node_id}.fs.total.total_in_bytes"),
                              whole(available, where, f"nodes.{node_id}.fs.total.available_in_bytes")))
    return nodes


def parse_health(data: Any, where: str = "_cluster/health") -> Health:
    data = mapping(data, where, "the answer")

    def count(key: str, default: Any = None) -> int:
        return whole(data.get(key, default), where, key)

    return Health(text(data.get("status"), where, "status"), count("number_of_nodes"), count("active_shards"),
                  count("unassigned_shards"), count("initializing_shards", 0), count("relocating_shards", 0), data)


def _rows(data: Any, where: str) -> list[dict[str, Any]]:
    """A ``_cat`` answer in ``format=json``: a list of objects whose values are all strings."""
    return [mapping(row, where, f"row {n}") for n, row in enumerate(listing(data, where, "the answer"))]


def index_names(data: Any, where: str = "_cat/indices") -> list[str]:
    return [text(row.get("index"), where, "index") for row in _rows(data, where)]


def parse_shards(data: Any, where: str = "_cat/shards") -> list[Shard]:
    """Every shard row; ``unassigned.reason`` is null for assigned shards."""
    shards = []
    for row in _rows(data, where):
        shards.append(Shard(text(row.get("index"), where, "index"), str(row.get("shard")),
                            row.get("prirep") == "p", text(row.get("state"), where, "state"),
                            str(row.get("unassigned.reason") or "")))
    return shards


PARTIAL_RUNBOOK = "docs/runbooks/opensearch.md#partial-results"


def _first_failure(failures: Any) -> str:
    """``index[shard]: type: reason`` of the first shard failure, redacted, then cut at 200 characters (cut after
    redacting, or half a secret would no longer look like one)."""
    from healthgate.redact import redact

    items = failures if isinstance(failures, list) else []
    if not items:
        return ""
    first = items[0]
    if not isinstance(first, dict):
        return shown(first)
    reason = first.get("reason")
    if isinstance(reason, dict):
        said = ": ".join(str(reason[key]) for key in ("type", "reason") if reason.get(key) is not None)
    else:
        said = "" if reason is None else str(reason)
    where = f"{first.get('index')}[{first.get('shard')}]" if first.get("index") is not None else ""
    line = redact(": ".join(part for part in (where, said) if part) or shown(first))
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS - 1] + "…"


def _of(part: int, whole_of: Any, where: str, what: str, noun: str) -> str:
    """``2 of 5 shards``, or ``2 shard(s)`` when the total is not given."""
    if whole_of is None:
        return f"{part} {noun}(s)"
    return f"{part} of {whole(whole_of, where, what)} {noun}s"


def partial(data: dict[str, Any], where: str = "_search") -> dict[str, str]:
    """What a search answer left out (keys ``timed_out``, ``shards``, ``clusters``), empty when it is complete.

    OpenSearch answers HTTP 200 with the hits of the shards that did answer (``allow_partial_search_results`` is on
    by default): ``timed_out`` says the search stopped at its timeout, ``_shards.failed`` that shards failed (a
    query the mapping of one index refuses, a shard that is not available), ``_clusters.skipped`` that remote
    clusters were left out."""
    left_out: dict[str, str] = {}
    timed_out = data.get("timed_out", False)
    if not isinstance(timed_out, bool):
        raise wrong_shape(where, "timed_out", "true or false", timed_out)
    if timed_out:
        took = data.get("took")
        after = "" if took is None else f" after {whole(took, where, 'took')} ms"
        left_out["timed_out"] = f"the search timed out{after}"
    shards = mapping(data.get("_shards"), where, "_shards", optional=True)
    failed = whole(shards.get("failed", 0), where, "_shards.failed")
    if failed:
        first = _first_failure(shards.get("failures"))
        left_out["shards"] = (_of(failed, shards.get("total"), where, "_shards.total", "shard") + " failed"
                              + (f": {first}" if first else ""))
    clusters = mapping(data.get("_clusters"), where, "_clusters", optional=True)
    skipped = whole(clusters.get("skipped", 0), where, "_clusters.skipped")
    if skipped:
        left_out["clusters"] = _of(skipped, clusters.get("total"), where, "_clusters.total", "cluster") + " skipped"
    return left_out


def complete(data: dict[str, Any], index: str, body: dict[str, Any], where: str = "_search") -> None:
    """Raise BadResponse (*could not check*) when the answer holds partial results: a count over part of the data
    can be too low, and an error count of 0 read from it would pass while errors are being logged."""
    left_out = partial(data, where)
    if not left_out:
        return
    hints = []
    if "shards" in left_out:
        hints.append(f"the query failed on some shards of {index}: a field it uses mapped with another type in one "
                     f"index (GET {index}/_mapping/field/<field>) or a shard that is not available "
                     f"(GET _cat/shards/{index}?v) are the usual causes")
    if "timed_out" in left_out:
        timeout = body.get("timeout")
        hints.append("the cluster did not finish the search" + (f" within its timeout ({timeout})" if timeout else "")
                     + ": is it overloaded (GET _nodes/hot_threads, GET _cat/thread_pool/search?v)? the timeout is "
                       f"{SEARCH_TIMEOUT_SHARE:.0%} of this target's timeouts.read")
    if "clusters" in left_out:
        hints.append("remote clusters of the pattern did not answer: GET _remote/info")
    raise BadResponse(f"{where} answered with partial results, so the count is not judged: "
                      f"{'; '.join(left_out.values())}",
                      hint="; ".join(hints) + f" — see {PARTIAL_RUNBOOK}")


def parse_hits(data: Any, index: str, body: dict[str, Any], where: str = "_search") -> Hits:
    """Hits of a search with ``track_total_hits``: ``hits.total`` is ``{"value": n}`` (or a bare number on the
    oldest versions); every hit's ``_source`` is an object when present. An answer with partial results (timed
    out, failed shards, skipped clusters) or whose total is only a lower bound raises BadResponse."""
    data = mapping(data, where, "the answer")
    complete(data, index, body, where)
    hits = mapping(data.get("hits"), where, "hits")
    total = hits.get("total")
    if isinstance(total, dict) and total.get("relation", "eq") != "eq":
        raise BadResponse(f"{where}: hits.total is a lower bound ({shown(total)}), not a count",
                          hint="the request asks for track_total_hits: is a proxy rewriting it?")
    total = whole(total.get("value") if isinstance(total, dict) else total, where, "hits.total")
    docs = [mapping(hit, where, "a hit") for hit in listing(hits.get("hits"), where, "hits.hits", optional=True)]
    for doc in docs:
        mapping(doc.get("_source"), where, "_source of a hit", optional=True)
    return Hits(index, body, total, tuple(docs))


def parse_snapshots(data: Any, where: str = "_snapshot") -> list[Snapshot]:
    """``snapshots`` of a ``_snapshot/<repo>/_all`` answer; absent when there are none (``filter_path`` drops
    empty lists)."""
    snapshots = []
    for row in listing(mapping(data, where, "the answer").get("snapshots"), where, "snapshots", optional=True):
        row = mapping(row, where, "a snapshot")
        end = row.get("end_time_in_millis")
        snapshots.append(Snapshot(text(row.get("snapshot"), where, "snapshot"), text(row.get("state"), where,
                                                                                     "state"),
                                  None if end is None else whole(end, where, "end_time_in_millis")))
    return snapshots


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


class NotFound(BadResponse):
    """A 404 a check turns into a verdict (missing index pattern, missing repository); left uncaught it reports
    the check broken, like any other answer we could not use."""

    def __init__(self, kind: str, reason: str, where: str) -> None:
        self.kind = kind
        self.reason = reason
        super().__init__(f"{where} answered 404: {kind}: {reason}")
