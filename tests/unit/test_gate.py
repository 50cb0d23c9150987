import pytest

from healthgate.gate import Result, judge


def r(status, severity="critical", check="test_x", target="http:a"):
    return Result(nodeid=f"{check}[{target}]", check=check, target=target, kind="http", phase="daily",
                  severity=severity, status=status)


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
    ],
    ids=["pass", "critical-fail", "critical-broken", "warning-let-through", "warning-gate-blocks",
         "mixed", "only-skipped-is-empty", "empty"],
)
def test_gate_blocks_on_its_severities_and_never_on_nothing(results, gate, ok, blocking, let_through):
    verdict = judge(results, gate)
    assert (verdict.ok, len(verdict.blocking), len(verdict.let_through)) == (ok, blocking, let_through)


def test_verdict_line_names_blocking_checks_and_counts_warnings():
    assert "test_x[http:a]" in judge([r("failed")]).line()
    assert "1 warning(s) let through" in judge([r("passed"), r("failed", "warning")]).line()
    assert "no check ran" in judge([]).line()


def test_unknown_gate_is_refused():
    with pytest.raises(ValueError, match="gate must be one of"):
        judge([], "info")
