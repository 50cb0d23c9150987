"""The release gate: which check results block, which are let through. Pure logic, tested from tables."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from healthgate.vocabulary import NOT_PASSED, SEVERITIES, Outcome, Severity

# --gate=critical blocks on critical checks only; --gate=warning on warnings too.
GATES: tuple[Severity, ...] = SEVERITIES
BLOCKED_BY: dict[str, set[str]] = {"critical": {"critical"}, "warning": {"critical", "warning"}}


@dataclass(frozen=True)
class WaiverNote:
    """The profile's waiver that matched a check: its place in the profile's ``waivers:`` list, until when it
    applies, why, and who approved it."""

    index: int
    until: str
    reason: str
    approved_by: str = ""

    def text(self) -> str:
        approved = f" (approved by {self.approved_by})" if self.approved_by else ""
        return f"waived until {self.until}: {self.reason}{approved}"


@dataclass(frozen=True)
class Result:
    nodeid: str
    check: str
    target: str
    kind: str
    phase: str
    severity: str
    status: Outcome
    message: str = ""
    runbook: str = ""
    duration: float = 0.0
    observed: str = ""
    expected: str = ""
    waited: str = ""  # an ``eventually`` check: how long until it passed, or gave up
    category: str = ""  # a broken check: why it could not look (the client error's category)
    waiver: WaiverNote | None = None  # the profile's waiver for this check and target, whatever the outcome
    waived_from: str = ""  # a waived check: what it was before the waiver let it through (failed or broken)


@dataclass
class Verdict:
    gate: str
    blocking: list[Result] = field(default_factory=list)
    let_through: list[Result] = field(default_factory=list)
    waived: list[Result] = field(default_factory=list)
    total: int = 0
    # Problems of the run as a whole, reported by feature plugins (a baseline that could not be written).
    run_failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.blocking and not self.run_failures and self.total > 0

    def line(self) -> str:
        if self.run_failures:
            # the checks that failed too, so a run problem (an expired waiver) never hides them
            also = f"; and {self._blocking_text()}" if self.blocking else ""
            return f"GATE RED ({self.gate} gate): {'; '.join(self.run_failures)}{also}"
        if self.total == 0:
            return "GATE RED: no check ran (nothing selected); pass --allow-empty if that is expected"
        if self.blocking:
            return f"GATE RED ({self.gate} gate): {self._blocking_text()}"
        tail = f"; {len(self.waived)} waived" if self.waived else ""
        tail += f"; {len(self.let_through)} warning(s) let through" if self.let_through else ""
        return f"GATE GREEN ({self.gate} gate): {self.total} check(s) evaluated, none blocking{tail}"

    def _blocking_text(self) -> str:
        names = ", ".join(f"{r.check}[{r.target}]" for r in self.blocking[:5])
        more = f" and {len(self.blocking) - 5} more" if len(self.blocking) > 5 else ""
        return f"{len(self.blocking)} blocking check(s) failed: {names}{more}"


def judge(results: Iterable[Result], gate: str = "critical", run_failures: Iterable[str] = ()) -> Verdict:
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, not {gate!r}")
    verdict = Verdict(gate=gate, run_failures=list(run_failures))
    for result in results:
        if result.status == "skipped":
            continue
        verdict.total += 1
        if result.status == "waived":  # a known failure, let through until its waiver's date
            verdict.waived.append(result)
        elif result.status in NOT_PASSED:
            if result.severity in BLOCKED_BY[gate]:
                verdict.blocking.append(result)
            else:
                verdict.let_through.append(result)
    return verdict
