"""Waivers in a real run: a waived failure is reported as waived everywhere (terminal, JUnit, JSON summary, metrics)
and lets the gate through; an expired one turns it red saying so; one whose check passes is flagged; one naming no
check stops the run before any check, naming the file and line."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET

from tests.plugin.test_plugin import profile_for, run, setup

LATER = (dt.date.today() + dt.timedelta(days=14)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def waiver(until: str, check: str = "test_health_endpoint", target: str = "http:web") -> str:
    return f"""waivers:
          - check: {check}
            target: {target}
            reason: certificate renewal under way (CHG-1234)
            until: {until}
            approved_by: alice
        """


def test_a_waived_failure_is_reported_as_waived_everywhere_and_does_not_block(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url, waiver(LATER)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--junitxml=out/junit.xml",
                 "--summary-json=out/s.json", "--metrics-textfile=out/m.prom")
    assert result.ret == 0
    text = f"waived until {LATER}: certificate renewal under way (CHG-1234) (approved by alice)"
    result.stdout.fnmatch_lines([
        "*phase(s)*kind*passed*failed*broken*waived*warning*skipped",
        "*pre_deploy*http*1*0*0*1*0*0",
        f"*waived: test_health_endpoint[[]http:web[]] {text} — it failed: http:web: status (503) == 200*",
        "GATE GREEN (critical gate): 2 check(s) evaluated, none blocking; 1 waived",
        "*1 passed*1 xfailed*",
    ])

    case = next(c for c in ET.parse(pytester.path / "out/junit.xml").iter("testcase")
                if c.get("name") == "test_health_endpoint[http:web]")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert (properties["healthgate_outcome"], properties["waiver"]) == ("waived", text)
    skipped = case.find("skipped")
    assert skipped is not None and (skipped.get("type"), skipped.get("message")) == ("pytest.xfail", text)
    assert case.find("failure") is None

    summary = json.loads((pytester.path / "out/s.json").read_text())
    assert (summary["verdict"], summary["counts"]["waived"], summary["counts"]["failed"]) == ("pass", 1, 0)
    waived, = summary["waived"]
    assert {k: waived[k] for k in ("check", "target", "status", "waived_from", "until", "reason", "approved_by",
                                   "observed", "expected")} == {
        "check": "test_health_endpoint", "target": "http:web", "status": "waived", "waived_from": "failed",
        "until": LATER, "reason": "certificate renewal under way (CHG-1234)", "approved_by": "alice",
        "observed": "503", "expected": "== 200"}
    assert summary["waivers"] == {"expired": [], "no_longer_needed": []}

    metrics = (pytester.path / "out/m.prom").read_text()
    labels = 'check="test_health_endpoint",target="http:web",phase="pre_deploy,post_deploy,post_recovery,daily",' \
             'severity="critical"'
    assert f"healthgate_check_success{{{labels}}} 0" in metrics
    assert f"healthgate_check_waived{{{labels}}} 1" in metrics
    assert 'healthgate_run_success{profile="unit"} 1' in metrics


def test_a_waived_could_not_check_is_let_through_too_and_says_so(pytester, black_hole):
    setup(pytester, profile_for(black_hole.url, waiver(LATER)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "-k", "test_health_endpoint")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"*waived: test_health_endpoint[[]http:web[]] waived until {LATER}:*"
                                 " — it could not check: *timed out*"])


def test_an_expired_waiver_turns_the_gate_red_saying_when_it_expired_and_where(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url, waiver(PAST)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--summary-json=out/s.json")
    assert result.ret == 1
    profile = pytester.path / "profile.yaml"
    line = next(i for i, text in enumerate(profile.read_text().splitlines(), 1) if "until:" in text)
    result.stdout.fnmatch_lines([
        f"*  waiver expired on {PAST}: certificate renewal under way (CHG-1234); renew it with a later until*",
        f"GATE RED (critical gate): {profile}:{line}: waivers.0.until: the waiver of test_health_endpoint on "
        f"http:web expired on {PAST} (certificate renewal under way (CHG-1234); approved by alice) (renew it *; "
        "and 1 blocking check(s) failed: test_health_endpoint[[]http:web[]]",
    ])
    summary = json.loads((pytester.path / "out/s.json").read_text())
    assert (summary["counts"]["waived"], summary["counts"]["failed"]) == (0, 1)
    expired, = summary["waivers"]["expired"]
    assert (expired["check"], expired["until"], expired["where"]) == ("test_health_endpoint", PAST,
                                                                       f"{profile}:{line}")


def test_an_expired_waiver_blocks_even_when_its_check_now_passes(pytester, http_server):
    setup(pytester, profile_for(http_server.url, waiver(PAST)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"GATE RED (critical gate): *the waiver of test_health_endpoint on http:web "
                                 f"expired on {PAST}*"])


def test_a_waiver_whose_check_passes_is_reported_as_no_longer_needed(pytester, http_server):
    setup(pytester, profile_for(http_server.url, waiver(LATER)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--summary-json=out/s.json",
                 "--junitxml=out/junit.xml")
    assert result.ret == 0
    profile = pytester.path / "profile.yaml"
    result.stdout.fnmatch_lines([
        f"*warning: waiver no longer needed: test_health_endpoint on http:web passed in this run ({profile}:*); "
        "remove it from the profile",
        "GATE GREEN (critical gate): 2 check(s) evaluated, none blocking",
    ])
    summary = json.loads((pytester.path / "out/s.json").read_text())
    unneeded, = summary["waivers"]["no_longer_needed"]
    assert (unneeded["check"], unneeded["target"], unneeded["until"]) == ("test_health_endpoint", "http:web", LATER)
    case = next(c for c in ET.parse(pytester.path / "out/junit.xml").iter("testcase")
                if c.get("name") == "test_health_endpoint[http:web]")
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["waiver"].startswith(
        "waiver no longer needed: the check passed; remove it")


def test_a_waiver_of_an_unknown_check_stops_the_run_naming_file_and_line(pytester, http_server):
    setup(pytester, profile_for(http_server.url, waiver(LATER, check="test_helth_endpoint")))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy")
    assert result.ret == 4
    profile = pytester.path / "profile.yaml"
    line = next(i for i, text in enumerate(profile.read_text().splitlines(), 1) if "check:" in text)
    assert f"profile error: {profile}:{line}: waivers.0.check: no check named 'test_helth_endpoint' (did you " \
           "mean test_health_endpoint?)" in result.stderr.str()
    assert http_server.hits == 0, "no check ran"


def test_waivers_hold_under_xdist(pytester, http_server):
    http_server.answers = [503]
    setup(pytester, profile_for(http_server.url, waiver(LATER)))
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "-n", "2", "--summary-json=out/s.json")
    assert result.ret == 0
    assert json.loads((pytester.path / "out/s.json").read_text())["counts"]["waived"] == 1


def test_failures_in_a_row_are_carried_from_run_to_run_and_reset_by_a_pass(pytester, http_server):
    setup(pytester, profile_for(http_server.url))
    metric = 'healthgate_check_failures_in_a_row{check="test_health_endpoint",target="http:web",'
    seen = []
    for answer in (503, 503, 503, 200, 503):
        http_server.answers, http_server.hits = [answer], 0
        run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--metrics-textfile=out/m.prom")
        line = next(t for t in (pytester.path / "out/m.prom").read_text().splitlines() if t.startswith(metric))
        seen.append(int(line.rsplit(" ", 1)[1]))
    assert seen == [1, 2, 3, 0, 1]


def test_merged_shards_keep_a_waiver_needed_while_any_shard_still_needs_it(pytester, http_server):
    from tests.plugin.conftest import ScriptedServer

    healthy = ScriptedServer()
    try:
        http_server.answers = [503]
        profile = f"""
            name: unit
            timeouts: {{connect: 1s, read: 1s}}
            targets:
              http:
                web: {{url: "{http_server.url}"}}
                api: {{url: "{healthy.url}"}}
            waivers:
              - {{check: test_health_endpoint, reason: replica rebuild, until: {LATER}}}
            """
        setup(pytester, profile)
        for i in (1, 2):
            shard = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", f"--shard={i}/2",
                        f"--summary-json=shard{i}.json")
            assert shard.ret == 0
        alone = [json.loads((pytester.path / f"shard{i}.json").read_text())["waivers"]["no_longer_needed"]
                 for i in (1, 2)]
        assert sorted(len(a) for a in alone) == [0, 1], "the healthy target's shard alone finds it unneeded"
        merged = pytester.run("python", "-m", "healthgate", "merge", "shard1.json", "shard2.json", "-o", "m.json")
        assert merged.ret == 0
        document = json.loads((pytester.path / "m.json").read_text())
        assert (document["counts"]["waived"], document["waivers"]["no_longer_needed"]) == (1, [])
        merged.stdout.fnmatch_lines([f"*waived: test_health_endpoint[[]http:web[]] until {LATER}: replica rebuild",
                                     "GATE GREEN (critical gate) across the shards"])
    finally:
        healthy.close()
