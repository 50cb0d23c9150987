"""Run one check function against one target outside a pytest session: the self-tests' way of proving a check
passes on a healthy server and fails, with the right message, on a broken one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate import expect as expect_mod
from healthgate.errors import CheckError
from healthgate.targets import settings_model
from healthgate.targets.base import Target, Timeouts


@dataclass
class Outcome:
    status: str  # passed | failed | broken | skipped
    message: str = ""
    record: expect_mod.CheckRecord = field(default_factory=expect_mod.CheckRecord)
    exception: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Outcome {self.status}: {self.message[:300]}>"


def make_target(kind: str, settings: dict[str, Any], *, name: str = "test",
                timeouts: Timeouts | None = None) -> Target:
    model = settings_model(kind)
    return Target(kind, name, model.model_validate(settings), timeouts or Timeouts(connect=3.0, read=10.0))


def run_check(fn: Callable[..., Any], target: Target, **extra: Any) -> Outcome:
    """Call a check as the plugin would and classify the result the way reports do."""
    record = expect_mod.CheckRecord()
    token = expect_mod.current.set(record)
    try:
        fn(target, **extra)
    except pytest.fail.Exception as exc:
        return Outcome("failed", str(exc.msg), record, exc)
    except pytest.skip.Exception as exc:
        return Outcome("skipped", str(exc.msg), record, exc)
    except AssertionError as exc:
        return Outcome("failed", str(exc), record, exc)
    except CheckError as exc:
        return Outcome("broken", str(exc), record, exc)
    finally:
        expect_mod.current.reset(token)
    return Outcome("passed", "", record)
