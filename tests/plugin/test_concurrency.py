"""Observe concurrently, judge in order: the targets of a run are observed at the same time, each target's checks
stay together (one connection, one timeout when dead), shards split the targets, and ``eventually`` waits only
where a target is expected to come up, once per target. Behaviour is asserted, not time."""

from __future__ import annotations

import itertools
import json
import textwrap

import pytest

from tests.plugin.conftest import BlackHole, SlowServer
from tests.plugin.test_plugin import CHECKS, run, setup


def fleet(urls: dict[str, str], extra: str = "", target_extra: str = "", read: str = "1s") -> str:
    targets = "\n".join(f'    {name}: {{url: "{url}"{target_extra}}}' for name, url in urls.items())
    return f"name: fleet\ntimeouts: {{connect: 1s, read: {read}}}\n{extra}\ntargets:\n  http:\n{targets}\n"


def test_ten_black_holed_targets_each_get_one_connection_and_every_check_an_outcome(pytester):
    holes = [BlackHole() for _ in range(10)]
    try:
        setup(pytester, fleet({f"dead{n}": hole.url for n, hole in enumerate(holes)}))
        result = run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", "--summary-json=s.json")
        assert result.ret == 1
        summary = json.loads((pytester.path / "s.json").read_text())
        assert summary["counts"]["broken"] == 30 and summary["counts"]["passed"] == 0
        assert [hole.accepted for hole in holes] == [1] * 10
    finally:
        for hole in holes:
            hole.close()


def test_slow_targets_are_observed_at_the_same_time(pytester):
    servers = [SlowServer(delay_s=0.5) for _ in range(5)]
    try:
        setup(pytester, fleet({f"slow{n}": server.url for n, server in enumerate(servers)}, extra="concurrency: 5",
                              read="5s"))
        result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy")
        assert result.ret == 0, result.stdout.str()
        firsts = [min(server.arrivals) for server in servers]
        # every target's first probe began before any of them was answered
        assert max(start for start, _ in firsts) < min(end for _, end in firsts), firsts
    finally:
        for server in servers:
            server.close()


def test_concurrency_one_observes_one_target_at_a_time(pytester):
    servers = [SlowServer(delay_s=0.3) for _ in range(3)]
    try:
        setup(pytester, fleet({f"slow{n}": server.url for n, server in enumerate(servers)}, read="5s"))
        assert run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--concurrency=1").ret == 0
        spans = sorted(span for server in servers for span in server.arrivals)
        assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans
    finally:
        for server in servers:
            server.close()


def test_a_bad_concurrency_is_refused(pytester, http_server):
    setup(pytester, fleet({"web": http_server.url}))
    result = run(pytester, "--profile=profile.yaml", "--concurrency=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--concurrency=0: give a whole number of targets, 1 or more*"])


def test_shards_together_collect_the_unsharded_items_and_merge_to_its_verdict(pytester, http_server, black_hole):
    urls = {f"web{n}": http_server.url for n in range(7)} | {"dead": black_hole.url}
    setup(pytester, fleet(urls))

    def collected(*args: str) -> set[str]:
        out = run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", "--collect-only", "-q", *args)
        return {line for line in out.stdout.lines if "::test_" in line}

    whole = collected()
    parts = [collected(f"--shard={i}/3") for i in (1, 2, 3)]
    assert len(whole) == 24 and set().union(*parts) == whole
    assert sum(len(part) for part in parts) == len(whole)  # no item in two shards
    for part in parts:  # a target's checks never split
        targets = {line.rsplit("[", 1)[1] for line in part}
        assert all(sum(line.endswith(f"[{t}") for line in part) == 3 for t in targets)

    unsharded = run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy")
    for i in (1, 2, 3):
        run(pytester, "--profile=profile.yaml", "-m", "daily or pre_deploy", f"--shard={i}/3",
            f"--summary-json=shard{i}.json")
    merged = pytester.run("python", "-m", "healthgate", "merge", "shard1.json", "shard2.json", "shard3.json",
                          "-o", "merged.json")
    assert (unsharded.ret, merged.ret) == (1, 1)
    document = json.loads((pytester.path / "merged.json").read_text())
    assert document["counts"]["broken"] == 3 and document["counts"]["passed"] == 21
    merged.stdout.fnmatch_lines(["*GATE RED (critical gate) across the shards*"])

    missing = pytester.run("python", "-m", "healthgate", "merge", "shard1.json", "shard3.json")
    assert missing.ret == 1
    missing.stdout.fnmatch_lines(["*shard 2/3 missing: its targets were not checked*"])


def test_a_bad_shard_is_refused_with_the_form(pytester, http_server):
    setup(pytester, fleet({"web": http_server.url}))
    result = run(pytester, "--profile=profile.yaml", "--shard=4/3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--shard=4/3: write I/N with 1 <= I <= N*"])


EVENTUALLY = ", eventually: {within: 2s, every: 200ms}"


def test_a_daily_run_does_not_wait_an_eventually_window(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, fleet({"web": http_server.url}, target_extra=EVENTUALLY))
    result = run(pytester, "--profile=profile.yaml", "-m", "daily")
    assert result.ret == 1
    assert http_server.hits == 2  # test_health_endpoint and test_soft, once each
    assert "still failing after" not in result.stdout.str()


def test_a_post_deploy_run_waits_once_per_target(pytester, http_server):
    http_server.answers = [503]
    checks = CHECKS + textwrap.dedent('''

        @check(phases=(POST,), severity="critical")
        def test_second_post_check(http):
            """a second check of the same target after a deploy"""
            response = http.client.get("/health")
            expect(http, "status", response.status, "==", 200)
        ''')
    setup(pytester, fleet({"web": http_server.url}, target_extra=EVENTUALLY), checks=checks)
    result = run(pytester, "--profile=profile.yaml", "-m", "post_deploy")
    assert result.ret == 1
    output = result.stdout.str()
    assert "still failing after" in output
    assert "eventually window was already spent by an earlier check" in output
    assert 3 <= http_server.hits <= 12  # the window's retries, then one attempt for the second check
