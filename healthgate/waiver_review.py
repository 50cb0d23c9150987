"""Waivers held against a run: which have expired, which name no check, and where each is declared (file and
line) so every message about one points at it. Needs the loaded profile, hence apart from :mod:`healthgate.waivers`,
which the loader itself needs."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path

from healthgate import profile as profile_mod
from healthgate.errors import ProfileError
from healthgate.profile import Profile
from healthgate.waivers import RENEW_HINT


def located(profile: Profile, index: int, message: str, *, key: str = "", hint: str = "") -> ProfileError:
    """A problem of one waiver, pointing at the file and line that declare it (the profile itself or one it
    extends). The loader's line index is not kept on the profile, so the files are read again; if that fails the
    message still names the file."""
    path: tuple[str | int, ...] = ("waivers", index, key) if key else ("waivers", index)
    error = ProfileError(message, path=path, hint=hint)
    try:
        return profile_mod._locate(error, profile_mod._load_chain(Path(profile.path)))
    except (ProfileError, OSError):
        return ProfileError(message, file=str(profile.path), path=path, hint=hint)


def expired(profile: Profile, today: dt.date) -> list[ProfileError]:
    """Waivers whose day has come: each blocks the gate, wherever its check runs, until renewed or removed."""
    problems = []
    for index, waiver in enumerate(profile.header.waivers):
        if not waiver.active_on(today):
            approved = f"; approved by {waiver.approved_by}" if waiver.approved_by else ""
            problems.append(located(
                profile, index, key="until", hint=RENEW_HINT,
                message=f"the waiver of {waiver.scope()} expired on {waiver.until.isoformat()} "
                        f"({waiver.reason}{approved})"))
    return problems


def unknown_checks(profile: Profile, kinds_of_checks: dict[str, set[str]],
                   collected_kinds: set[str]) -> list[ProfileError]:
    """Waivers naming a check that does not exist, or one of another kind than their target. Judged only where
    every check that could match was collected (a run of one check file must not refuse the others' waivers)."""
    problems = []
    all_collected = collected_kinds >= set(profile.targets)
    for index, waiver in enumerate(profile.header.waivers):
        target_kind = waiver.target.split(":", 1)[0] if waiver.target else None
        if not (all_collected or target_kind in collected_kinds):
            continue
        kinds = kinds_of_checks.get(waiver.check)
        if not kinds:
            candidates = sorted(c for c, k in kinds_of_checks.items() if target_kind is None or target_kind in k)
            close = difflib.get_close_matches(waiver.check, candidates, n=3)
            hint = (f"did you mean {' or '.join(close)}?" if close else
                    f"known{f' {target_kind}' if target_kind else ''} checks: {', '.join(candidates) or 'none'}")
            problems.append(located(profile, index, f"no check named {waiver.check!r}", key="check", hint=hint))
        elif target_kind is not None and target_kind not in kinds:
            kind = " or ".join(sorted(kinds))
            problems.append(located(profile, index, f"{waiver.check} is a {kind} check; it never runs on "
                                                    f"{waiver.target}", key="target",
                                    hint=f"name a {kind} target, or leave target out"))
    return problems
