"""Waivers as the profile declares them: what the loader refuses (naming file and line), which waiver covers which
check, when one expires, and which ones a run finds no longer needed."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from healthgate import waiver_review
from healthgate.errors import ProfileError
from healthgate.gate import Result
from healthgate.profile import load_profile
from healthgate.waivers import Waiver, find, no_longer_needed

TODAY = dt.date.today()
LATER = TODAY + dt.timedelta(days=30)
TARGETS = textwrap.dedent("""
    targets:
      http:
        web: {url: "http://127.0.0.1:8000"}
        api: {url: "http://127.0.0.1:8001"}
    """)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def profile_with(tmp_path, waivers: str, name: str = "p.yaml"):
    return write(tmp_path, name, TARGETS + textwrap.dedent(waivers))


def test_a_waiver_loads_with_its_check_target_reason_date_and_approver(tmp_path):
    path = profile_with(tmp_path, f"""
        waivers:
          - check: test_health_endpoint
            target: http:web
            reason: certificate renewal under way (CHG-1234)
            until: {LATER.isoformat()}
            approved_by: alice (SRE lead)
        """)
    waiver, = load_profile(path, environ={}).header.waivers
    assert (waiver.check, waiver.target, waiver.until, waiver.approved_by) == (
        "test_health_endpoint", "http:web", LATER, "alice (SRE lead)")
    assert waiver.note(0).text() == (f"waived until {LATER.isoformat()}: certificate renewal under way (CHG-1234) "
                                     "(approved by alice (SRE lead))")


@pytest.mark.parametrize(("entry", "line", "fragment"), [
    ("{check: test_x, reason: r}", 7, "waivers.0: until is required: every waiver ends"),
    ("{check: test_x, reason: r, until: 20300101}", 7, "waivers.0.until: write the day the waiver ends as YYYY-MM-DD"),
    ("{check: test_x, reason: r, until: '2030-02-30'}", 7, "waivers.0.until: write the day the waiver ends"),
    ("{check: test_x, reason: r, until: 2030-01-01 10:00:00}", 7, "waivers.0.until: write a day without a time"),
    ("{check: test_x, reason: '  ', until: 2030-01-01}", 7, "waivers.0.reason: must say something"),
    ("{check: test_x, until: 2030-01-01}", 7, "waivers.0.reason: Field required"),
    ("{check: test_x, target: web, reason: r, until: 2030-01-01}", 7,
     "waivers.0.target: write the target as in the test id, kind:name"),
    ("{check: test_x, target: 'http:nope', reason: r, until: 2030-01-01}", 7,
     "waivers.0.target: no target 'http:nope' in this profile (targets: http:api, http:web; leave target out"),
    ("{check: 'test x', reason: r, until: 2030-01-01}", 7, "waivers.0.check: write the check's function name"),
    ("{check: test_x, reason: r, until: 2030-01-01, expires: 2030-01-01}", 7, "waivers.0.expires: unknown key"),
])
def test_a_bad_waiver_is_refused_at_load_naming_file_and_line(tmp_path, entry, line, fragment):
    path = profile_with(tmp_path, f"waivers:\n  - {entry}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path, environ={})
    assert f"{path}:{line}: {fragment}" in str(err.value)


def test_the_same_check_and_target_waived_twice_is_refused(tmp_path):
    path = profile_with(tmp_path, """
        waivers:
          - {check: test_x, target: 'http:web', reason: a, until: 2030-01-01}
          - {check: test_x, target: 'http:web', reason: b, until: 2031-01-01}
        """)
    with pytest.raises(ProfileError, match=r"p.yaml:9: waivers.1: test_x on http:web is already waived by "
                                           r"waivers\[0\]"):
        load_profile(path, environ={})


def test_the_waiver_naming_the_target_wins_over_the_one_covering_every_target():
    waivers = [Waiver(check="test_x", reason="all", until=LATER),
               Waiver(check="test_x", target="http:web", reason="web", until=LATER),
               Waiver(check="test_y", target="http:web", reason="other check", until=LATER)]
    assert (find(waivers, "test_x", "http:web"), find(waivers, "test_x", "http:api"),
            find(waivers, "test_z", "http:web")) == (1, 0, None)


def test_a_waiver_applies_before_its_day_and_has_expired_from_00_00_that_day():
    # Chef InSpec's expiration_date semantics: the named day is the first day without the waiver
    waiver = Waiver(check="test_x", reason="r", until=dt.date(2030, 1, 1))
    assert [waiver.active_on(day) for day in (dt.date(2029, 12, 31), dt.date(2030, 1, 1), dt.date(2030, 1, 2))] \
        == [True, False, False]


def test_an_expired_waiver_is_reported_with_its_file_line_date_and_reason(tmp_path):
    path = profile_with(tmp_path, f"""
        waivers:
          - {{check: test_x, target: 'http:web', reason: soon, until: {LATER.isoformat()}}}
          - check: test_y
            reason: replica rebuild
            until: {TODAY.isoformat()}
            approved_by: bob
        """)
    problem, = waiver_review.expired(load_profile(path, environ={}), TODAY)
    assert str(problem) == (
        f"{path}:11: waivers.1.until: the waiver of test_y on every target expired on {TODAY.isoformat()} "
        "(replica rebuild; approved by bob) (renew it with a later until and a new approval, or remove it once "
        "the cause is fixed)")


def test_a_waiver_inherited_through_extends_is_located_in_the_parent(tmp_path):
    write(tmp_path, "base.yaml", TARGETS + "waivers:\n  - {check: test_x, reason: r, until: 2020-01-01}\n")
    child = write(tmp_path, "child.yaml", "extends: base\nname: child\n")
    problem, = waiver_review.expired(load_profile(child, environ={}), TODAY)
    assert str(problem).startswith(f"{tmp_path / 'base.yaml'}:7: waivers.0.until: the waiver of test_x")


def test_a_waiver_of_an_unknown_check_says_which_were_meant(tmp_path):
    path = profile_with(tmp_path, """
        waivers:
          - {check: test_helth_endpoint, reason: r, until: 2030-01-01}
          - {check: test_replication_lag, target: 'http:web', reason: r, until: 2030-01-01}
          - {check: test_lag, target: 'postgres:main', reason: r, until: 2030-01-01}
        """)
    profile = load_profile(write(tmp_path, "ok.yaml", TARGETS), environ={})
    # the loader refuses the unknown target itself; the check names are judged against the collected checks
    with pytest.raises(ProfileError, match="no target 'postgres:main'"):
        load_profile(path, environ={})
    path.write_text(path.read_text().replace("postgres:main", "http:api"))
    profile = load_profile(path, environ={})
    kinds = {"test_health_endpoint": {"http"}, "test_latency": {"http"}, "test_replication_lag": {"postgres"}}
    problems = [str(p) for p in waiver_review.unknown_checks(profile, kinds, {"http", "postgres"})]
    assert problems == [
        f"{path}:8: waivers.0.check: no check named 'test_helth_endpoint' (did you mean test_health_endpoint?)",
        f"{path}:9: waivers.1.target: test_replication_lag is a postgres check; it never runs on http:web "
        "(name a postgres target, or leave target out)",
        f"{path}:10: waivers.2.check: no check named 'test_lag' (did you mean test_latency?)",
    ]
    # a run of other check files only does not judge waivers of kinds it did not collect
    assert waiver_review.unknown_checks(profile, {"test_replication_lag": {"postgres"}}, {"postgres"}) == []


def result(check, target, status, index=0):
    note = Waiver(check=check, reason="r", until=LATER).note(index)
    return Result(nodeid=f"{check}[{target}]", check=check, target=target, kind="http", phase="daily",
                  severity="critical", status=status, waiver=note)


def test_a_waiver_is_no_longer_needed_only_when_every_target_it_covers_passed():
    waivers = [Waiver(check="test_x", reason="r", until=LATER), Waiver(check="test_y", reason="r", until=LATER),
               Waiver(check="test_z", reason="not run", until=LATER)]
    results = [result("test_x", "http:web", "passed", 0), result("test_x", "http:api", "passed", 0),
               result("test_y", "http:web", "passed", 1), result("test_y", "http:api", "waived", 1)]
    assert no_longer_needed(waivers, results) == [0]
