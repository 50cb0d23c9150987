"""Waivers: a known failure let through until a date, with its reason and who approved it.

A certificate renewal under way or a replica being rebuilt must neither block every deploy for a week nor be
forgotten. A waiver names a check (and optionally one target), says why and until when. While it applies, the
check's failure (or its "could not check") is reported as *waived* and does not block. On its ``until`` date it
expires, at 00:00 local time like Chef InSpec's ``expiration_date``: from then on every run is red, saying that it
expired, until someone renews it or removes it. A waiver whose check passes is reported as no longer needed.

The loader checks what it can know (the date, the reason, the target); check names are only known once the checks
are collected, where :mod:`healthgate.collection` refuses an unknown one. Both errors name the file and line.
This module is what the profile loader needs; :mod:`healthgate.waiver_review` holds what needs the loaded profile.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import Field, field_validator, model_validator

from healthgate.errors import ProfileError
from healthgate.gate import Result, WaiverNote
from healthgate.targets.base import Model

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_TARGET_ID = re.compile(r"[a-z][a-z0-9_]*:[A-Za-z0-9][A-Za-z0-9_.-]*")
RENEW_HINT = "renew it with a later until and a new approval, or remove it once the cause is fixed"


class Waiver(Model):
    """One accepted failure: which check (and target), why, until when, approved by whom."""

    check: str = Field(description="the check's name as in its test id, e.g. test_certificate_expiry")
    target: str | None = Field(None, description="one target, as in the test id ('postgres:main'); without it the "
                                                 "waiver covers every target of the check")
    reason: str = Field(description="why the failure is accepted for now, e.g. the change or ticket under way")
    until: dt.date = Field(description="YYYY-MM-DD, required: the day the waiver stops applying (it expires at "
                                       "00:00 local time that day)")
    approved_by: str | None = Field(None, description="who accepted the risk")

    @model_validator(mode="before")
    @classmethod
    def _has_an_end(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("until") is None:
            raise ValueError("until is required: every waiver ends; write until: YYYY-MM-DD (the day it stops "
                             "applying)")
        return value

    @field_validator("check")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not re.fullmatch(r"\w+", value):
            raise ValueError("write the check's function name, as in its test id: test_certificate_expiry")
        return value

    @field_validator("target")
    @classmethod
    def _target_id(cls, value: str | None) -> str | None:
        if value is not None and not _TARGET_ID.fullmatch(value):
            raise ValueError("write the target as in the test id, kind:name (e.g. postgres:main)")
        return value

    @field_validator("reason", "approved_by")
    @classmethod
    def _said(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must say something: a waiver nobody can explain is a failure nobody will fix")
        return value.strip() if value is not None else None

    @field_validator("until", mode="before")
    @classmethod
    def _a_day(cls, value: Any) -> Any:
        # YAML reads an unquoted 2026-07-01 as a date, a quoted one as text. A number or a time of day is refused
        # rather than read as a Unix timestamp or silently cut to its day.
        if isinstance(value, dt.datetime):
            raise ValueError("write a day without a time: YYYY-MM-DD")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _ISO_DAY.fullmatch(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise ValueError("write the day the waiver ends as YYYY-MM-DD, e.g. 2026-07-01")

    def covers(self, check: str, target_id: str) -> bool:
        return self.check == check and self.target in (None, target_id)

    def active_on(self, today: dt.date) -> bool:
        """Applies before its ``until`` day; expired from 00:00 that day."""
        return today < self.until

    def scope(self) -> str:
        return f"{self.check} on {self.target}" if self.target else f"{self.check} on every target"

    def note(self, index: int) -> WaiverNote:
        return WaiverNote(index=index, until=self.until.isoformat(), reason=self.reason,
                          approved_by=self.approved_by or "")


def reference_errors(waivers: Sequence[Waiver], targets: dict[str, dict[str, Any]]) -> list[ProfileError]:
    """What the loader can check: each target exists, and no check and target is waived twice."""
    errors: list[ProfileError] = []
    known = sorted(f"{kind}:{name}" for kind, named in targets.items() for name in named)
    seen: dict[tuple[str, str | None], int] = {}
    for index, waiver in enumerate(waivers):
        if waiver.target is not None and waiver.target not in known:
            errors.append(ProfileError(
                f"no target {waiver.target!r} in this profile", path=("waivers", index, "target"),
                hint=f"targets: {', '.join(known) or 'none'}; leave target out to waive the check on every target"))
        key = (waiver.check, waiver.target)
        if key in seen:
            errors.append(ProfileError(
                f"{waiver.scope()} is already waived by waivers[{seen[key]}]", path=("waivers", index),
                hint="keep one waiver per check and target"))
        seen.setdefault(key, index)
    return errors


def find(waivers: Sequence[Waiver], check: str, target_id: str) -> int | None:
    """The waiver of one check on one target: one naming that target wins over one covering every target."""
    matching = [i for i, w in enumerate(waivers) if w.covers(check, target_id)]
    return min(matching, key=lambda i: waivers[i].target is None, default=None)


def no_longer_needed(waivers: Sequence[Waiver], results: Iterable[Result]) -> list[int]:
    """Waivers whose check ran and passed on every target they cover in this run."""
    outcomes: dict[int, set[str]] = {}
    for result in results:
        if result.waiver is not None:
            outcomes.setdefault(result.waiver.index, set()).add(result.status)
    return [index for index, statuses in sorted(outcomes.items())
            if statuses == {"passed"} and index < len(waivers)]
