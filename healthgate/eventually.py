"""``eventually``: a post-deployment wait, retrying a failing check until it passes or its window closes
(replaces the runbooks' ``sleep 30 && health_check``)."""

from __future__ import annotations

import time

import pytest

from healthgate import expect as expect_mod
from healthgate import pytest_compat
from healthgate.errors import CheckError
from healthgate.run_state import ITEM

WAITED_PROPERTY = "healthgate.eventually"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    info = pyfuncitem.stash.get(ITEM, None)
    if info is None or info.eventually is None:
        return None
    policy = info.eventually
    kwargs = pytest_compat.call_arguments(pyfuncitem)
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        expect_mod.current.set(expect_mod.CheckRecord())
        try:
            pyfuncitem.obj(**kwargs)
        except (AssertionError, pytest.fail.Exception, CheckError) as exc:
            elapsed = time.monotonic() - started
            if elapsed + policy.every > policy.within:
                _record_wait(pyfuncitem, f"still failing after {elapsed:.1f}s and {attempts} attempt(s)")
                if isinstance(exc, pytest.fail.Exception):
                    raise pytest.fail.Exception(
                        f"{exc.msg} (still failing after {elapsed:.1f}s, {attempts} attempts)", pytrace=False
                    ) from None
                raise
            time.sleep(policy.every)
            info.target.reset()
            continue
        elapsed = time.monotonic() - started
        _record_wait(pyfuncitem, f"passed after {elapsed:.1f}s and {attempts} attempt(s)")
        return True


def _record_wait(item: pytest.Item, text: str) -> None:
    """How long a post-deploy wait took travels with the result: JUnit property, report evidence, summary."""
    item.user_properties.append((WAITED_PROPERTY, text))
    record = expect_mod.current.get()
    if record is not None:
        record.evidence.append(("eventually", text))
