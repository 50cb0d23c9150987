"""Each check's outcome, classified (passed, failed = unhealthy, broken = could not check, skipped), with its
message, observation and warnings, packed into the report where every output reads it: the terminal, JUnit
properties, the JSON summary, the metrics file, Allure. Under xdist the packed result travels from the worker to
the controller with the report, and the controller alone collects results for the gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

import pytest

from healthgate import expect as expect_mod
from healthgate import gate as gate_mod
from healthgate.errors import CheckError
from healthgate.eventually import WAITED_PROPERTY
from healthgate.redact import redact
from healthgate.run_state import ITEM, STATE, ItemInfo, RunState
from healthgate.vocabulary import NOT_PASSED, Outcome
from healthgate.waivers import RENEW_HINT

RESULT_PROPERTY = "healthgate"
# JUnit properties of their own: CI test views show properties, not the JSON of RESULT_PROPERTY
OUTCOME_PROPERTY = "healthgate_outcome"
WAIVER_PROPERTY = "waiver"
WAIVED_CATEGORY = "waived"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Any:
    expect_mod.current.set(expect_mod.CheckRecord())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    info = item.stash.get(ITEM, None)
    if info is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return report
    from healthgate.observer import OBSERVED_SECONDS

    if report.when == "call" and OBSERVED_SECONDS in item.stash:
        report.duration = item.stash[OBSERVED_SECONDS]  # the check's own time, not the wait for its result
    status = outcome_of(report, call)
    exc = call.excinfo.value if call.excinfo is not None else None
    category = category_of(exc) if status == "broken" else ""
    message = _message(call) if status in NOT_PASSED else ""
    note, waived_from, waiver_line = _apply_waiver(item, info, status)
    if waived_from:
        status = "waived"
    if message:
        report.longrepr = report_text(message, severity=info.severity, runbook=info.runbook, category=category,
                                      waiver=waiver_line, waived=bool(waived_from))
    if status == "waived" and note is not None:
        _let_through_as_waived(report, note)
    # On the item, not only this report: JUnit writes the properties of the teardown report, made later from it.
    junit_properties = [(OUTCOME_PROPERTY, status)] + ([(WAIVER_PROPERTY, waiver_line)] if note is not None else [])
    item.user_properties.extend(junit_properties)
    report.user_properties.extend(junit_properties)
    record = expect_mod.current.get() or expect_mod.CheckRecord()
    for warning in info.target.settings.warnings(info.target.id):
        if warning not in record.warnings:
            record.warnings.append(warning)
    if message:
        _attach_runbook_section(item.config, info, record)
    failed_obs = next((o for o in record.observations if not o.passed), None)
    report.user_properties.append((RESULT_PROPERTY, {
        "check": info.check, "target": info.target.id, "kind": info.kind, "phases": list(info.phases),
        "severity": info.severity, "status": status, "message": redact(message), "runbook": info.runbook,
        "category": category,
        "observed": str(failed_obs.observed) if failed_obs else "",
        "expected": f"{failed_obs.op} {failed_obs.expected}" if failed_obs else "",
        "warnings": record.warnings,
        "waiver": asdict(note) if note is not None else None, "waived_from": waived_from,
    }))
    _label_allure_result(info, record, status, message, category, note if status == "waived" else None)
    return report


def _apply_waiver(item: pytest.Item, info: ItemInfo, status: Outcome) -> tuple[gate_mod.WaiverNote | None, str, str]:
    """The waiver covering this check and target, if any: (its note, the outcome it lets through or "", the line
    the report shows). A failure or a "could not check" is let through only while the waiver applies."""
    state = item.config.stash[STATE]
    if info.waiver is None or state.profile is None:
        return None, "", ""
    waiver = state.profile.header.waivers[info.waiver]
    note = waiver.note(info.waiver)
    if not waiver.active_on(dt.date.fromtimestamp(state.started)):
        return note, "", f"waiver expired on {note.until}: {note.reason}; {RENEW_HINT}"
    if status in NOT_PASSED:
        return note, status, note.text()
    return note, "", f"waiver no longer needed: the check {status}; remove it ({note.text()})"


def _let_through_as_waived(report: pytest.TestReport, note: gate_mod.WaiverNote) -> None:
    """Tell pytest, JUnit and Allure what a waiver means, in their own word for it: an expected failure. pytest
    counts it as xfailed, JUnit writes <skipped type="pytest.xfail" message="waived until ...">, Allure shows it
    as skipped in the Waived category; none of them then counts it as a failure."""
    report.outcome = "skipped"
    report.wasxfail = note.text()


def outcome_of(report: pytest.TestReport, call: pytest.CallInfo[None]) -> Outcome:
    """An assertion means the target is unhealthy (failed); anything else raised means we could not look."""
    if report.skipped:
        return "skipped"
    if report.passed:
        return "passed"
    if call.excinfo is not None and call.excinfo.errisinstance((AssertionError, pytest.fail.Exception)):
        return "failed"
    return "broken"


def _message(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg)
    if isinstance(exc, CheckError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def category_of(exc: BaseException | None) -> str:
    """Why we could not look, as the client's error class says it (unreachable, auth, permission, bad response,
    ...); an exception that is not a client's error is a fault in the check or its configuration."""
    return exc.category if isinstance(exc, CheckError) else "configuration error"


def report_text(message: str, *, severity: str, runbook: str, category: str = "", waiver: str = "",
                waived: bool = False) -> str:
    """What the terminal, JUnit and Allure show of a check that did not pass. A ``category:`` line says why a
    broken check could not look, or that a waiver let the failure through (its line first); the Allure report
    sorts on it. A waiver that did not apply (expired) is a line of its own."""
    lines = [waiver] if waived else []
    lines += [f"could not check: {message}" if category else message, f"  severity: {severity}"]
    if waived:
        lines.append(f"  category: {WAIVED_CATEGORY}")
    elif category:
        lines.append(f"  category: {category}")
    if waiver and not waived:
        lines.append(f"  {waiver}")
    lines.append(f"  runbook: {runbook}")
    return redact("\n".join(lines))


def _attach_runbook_section(config: pytest.Config, info: ItemInfo, record: expect_mod.CheckRecord) -> None:
    """What to do next travels with the failure: the runbook section's investigation and resolution steps."""
    from healthgate import resources, runbooks

    page, _, anchor = info.runbook.rpartition("#")
    text = runbooks.section(resources.runbooks_dir(config.rootpath), page.rsplit("/", 1)[-1], anchor)
    if text:
        record.evidence.append((f"runbook: {anchor}", text))


def _label_allure_result(info: ItemInfo, record: expect_mod.CheckRecord, status: Outcome, message: str,
                         category: str, waiver: gate_mod.WaiverNote | None) -> None:
    from healthgate import allure_results

    try:
        allure_results.label(info, record, status, message, category, waiver)
    except Exception as exc:  # a report detail must never turn into an internal error that hides the verdict
        import warnings

        warnings.warn(f"healthgate: could not label the Allure result of {info.check}[{info.target.id}]: {exc!r}",
                      stacklevel=1)


class ResultCollector:
    """Gathers check results where the gate is decided: in the controller under xdist, else in-process.

    Registered per config (not module-global) so a pytest run inside another, as the plugin's own tests do,
    keeps its results apart."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        waited = next((str(v) for k, v in report.user_properties if k == WAITED_PROPERTY), "")
        for key, value in report.user_properties:
            if key == RESULT_PROPERTY and isinstance(value, dict):
                self.state.results.append(gate_mod.Result(
                    nodeid=report.nodeid, check=value["check"], target=value["target"], kind=value["kind"],
                    phase=",".join(value["phases"]), severity=value["severity"], status=value["status"],
                    message=value["message"], runbook=value["runbook"], duration=report.duration,
                    observed=value.get("observed", ""), expected=value.get("expected", ""), waited=waited,
                    category=value.get("category", ""),
                    waiver=gate_mod.WaiverNote(**value["waiver"]) if value.get("waiver") else None,
                    waived_from=value.get("waived_from", ""),
                ))
                return
        if report.failed and report.when != "teardown":  # xdist reports a crashed worker with when="???"
            self.state.unclassified_failures += 1
            if self.state.profile is not None:
                self.state.results.append(_unclassified(report))


def _unclassified(report: pytest.TestReport) -> gate_mod.Result:
    """A failure that carries no check result: the worker died, or setup broke before the check began. In a
    health run it still counts, as a blocking 'could not check', so a crash can never turn the gate green."""
    name = report.nodeid.rsplit("::", 1)[-1]
    check, _, param = name.partition("[")
    target = param.rstrip("]") or "?"
    message = str(report.longrepr).strip().splitlines()[-1] if report.longrepr else "failed without a result"
    return gate_mod.Result(
        nodeid=report.nodeid, check=check, target=target, kind=target.split(":", 1)[0], phase="?",
        severity="critical", status="broken", message=redact(message), duration=report.duration,
        category="crashed",
    )
