"""The words every part of healthgate shares, defined once: phases, severities, outcomes.

Profiles validate against these Literals, ``@check`` refuses anything else, the plugin registers the phases as
markers, and a test holds ``pyproject.toml``'s marker list to the same definition.
"""

from __future__ import annotations

from typing import Literal, get_args

Phase = Literal["pre_deploy", "post_deploy", "post_recovery", "daily", "restore_drill"]
PHASES: tuple[Phase, ...] = get_args(Phase)

PRE_DEPLOY: Phase = "pre_deploy"
POST_DEPLOY: Phase = "post_deploy"
POST_RECOVERY: Phase = "post_recovery"
DAILY: Phase = "daily"
RESTORE_DRILL: Phase = "restore_drill"
# What a check runs in unless it says otherwise: the restore drill is a monthly exercise, never implied.
HEALTH_PHASES: tuple[Phase, ...] = (PRE_DEPLOY, POST_DEPLOY, POST_RECOVERY, DAILY)

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

# passed: healthy; failed: the target is unhealthy (an assertion); broken: we could not look (a client error);
# skipped: the check does not apply to what it found (no GPU, no standby); waived: it failed or could not look, and
# an unexpired waiver of the profile lets that through (reported with its reason and date, never blocking).
Outcome = Literal["passed", "failed", "broken", "skipped", "waived"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
NOT_PASSED: tuple[Outcome, ...] = ("failed", "broken")
# The columns of every count (terminal, JSON summary, merged shards), in the order people read them.
COUNTED: tuple[Outcome, ...] = ("passed", "failed", "broken", "waived", "skipped")
