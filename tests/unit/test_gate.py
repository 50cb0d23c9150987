import pytest

from healthgate.gate import Result, WaiverNote, judge

NOTE = WaiverNote(index=0, until="2030-01-01", reason="replica rebuild (CHG-7)", approved_by="dba on call")


def r(status, severity="critical", check="test_x", target="http:a"):
    waived = status == "waived"
    return Result(nodeid=f"{check}[{target}]", check=check, target=target, kind="http", phase="daily",
                  severity=severity, status=status, waiver=NOTE if waived else None,
                  waived_from="failed" if waived else "")


@pytest.mark.parametrize(
    ("results", "gate", "ok", "blocking", "let_through"),
    [
        ([r("passed")], "critical", True, 0, 0),
        ([r("failed")], "critical", False, 1, 0),
        ([r("broken")], "critical", False, 1, 0),
        ([r("failed", "warning")], "critical", True, 0, 1),
        ([r("failed", "warning")], "warning", False, 1, 0),
        ([r("passed"), r("failed", "warning"), r("broken", "warning")], "critical", True, 0, 2),
        ([r("skipped")], "critical", False, 0, 0),
        ([], "critical", False, 0, 0),
        ([r("waived")], "critical", True, 0, 0),
        ([r("waived", "warning")], "warning", True, 0, 0),
        ([r("waived"), r("failed", check="test_y")], "critical", False, 1, 0),
    ],
    ids=["pass", "critical-fail", "critical-broken", "warning-let-through", "warning-gate-blocks",
         "mixed", "only-skipped-is-empty", "empty", "waived-never-blocks", "waived-warning-under-warning-gate",
         "waiver-covers-only-its-check"],
)
def test_gate_blocks_on_its_severities_and_never_on_nothing(results, gate, ok, blocking, let_through):
    verdict = judge(results, gate)
    assert (verdict.ok, len(verdict.blocking), len(verdict.let_through)) == (ok, blocking, let_through)


def test_a_waived_check_counts_as_evaluated_and_is_listed_apart():
    verdict = judge([r("waived")])
    assert (verdict.total, [w.check for w in verdict.waived]) == (1, ["test_x"])
    assert verdict.line() == "GATE GREEN (critical gate): 1 check(s) evaluated, none blocking; 1 waived"
    assert NOTE.text() == "waived until 2030-01-01: replica rebuild (CHG-7) (approved by dba on call)"


def test_a_run_failure_does_not_hide_the_checks_that_failed():
    line = judge([r("failed")], run_failures=["profile.yaml:9: waivers.0.until: the waiver expired"]).line()
    assert line == ("GATE RED (critical gate): profile.yaml:9: waivers.0.until: the waiver expired; and 1 blocking "
                    "check(s) failed: test_x[http:a]")


def test_verdict_line_names_blocking_checks_and_counts_warnings():
    assert "test_x[http:a]" in judge([r("failed")]).line()
    assert "1 warning(s) let through" in judge([r("passed"), r("failed", "warning")]).line()
    assert "no check ran" in judge([]).line()


def test_unknown_gate_is_refused():
    with pytest.raises(ValueError, match="gate must be one of"):
        judge([], "info")
