"""Observe concurrently, judge in order.

When the run starts, every target's checks start running in the background, one thread per target at a time and
at most ``concurrency`` targets at once; each pytest item then reports its check's outcome as it arrives, in the
order pytest runs them. A run costs about its slowest target, and a fleet of dead targets about one timeout.

Each target's checks run one after the other in its thread, so the guarantees of a sequential run hold: one
connection set per target, closed after its last check; a target found unreachable is marked down once and its
other checks fail fast; an ``eventually`` window is shared by its checks. A target with a check that needs more
than its target (a fixture such as ``data_safety``) is not observed ahead: all its checks run in pytest's own
order, in the main thread, as they always did.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from healthgate import eventually, pytest_compat
from healthgate import expect as expect_mod
from healthgate.allure_results import phase_suite
from healthgate.run_state import ITEM, STATE, ItemInfo

DEFAULT_CONCURRENCY = 32  # targets observed at once: sized for a 2-core runner, where waiting is the work
OBSERVER = pytest.StashKey["Observer"]()
OBSERVED_SECONDS = pytest.StashKey[float]()


@dataclass
class Observed:
    """A check's outcome, captured where it ran, for the pytest item to report."""

    record: expect_mod.CheckRecord
    error: BaseException | None = None
    waited: str = ""
    seconds: float = 0.0


@dataclass
class Observer:
    concurrency: int
    markexpr: str = ""
    windows: eventually.Windows = field(default_factory=eventually.Windows)
    _pool: ThreadPoolExecutor | None = None
    _futures: dict[str, Future[Observed]] = field(default_factory=dict)
    _started: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, items: Iterable[pytest.Item]) -> None:
        """Begin observing the targets of these items (those not begun yet), in the order they come."""
        by_target: dict[str, list[pytest.Function]] = {}
        inline: set[str] = set()
        for item in items:
            info = item.stash.get(ITEM, None)
            if info is None or not isinstance(item, pytest.Function):
                continue
            by_target.setdefault(info.target.id, []).append(item)
            if tuple(pytest_compat.argument_names(item)) != (info.kind,):
                inline.add(info.target.id)
        with self._lock:
            for target_id, target_items in by_target.items():
                if target_id in self._started or target_id in inline:
                    continue
                self._started.add(target_id)
                futures = [Future[Observed]() for _ in target_items]
                for item, future in zip(target_items, futures, strict=True):
                    self._futures[item.nodeid] = future
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.concurrency,
                                                    thread_name_prefix="healthgate-observe")
                self._pool.submit(self._observe_target, target_items, futures)

    def _observe_target(self, items: list[pytest.Function], futures: list[Future[Observed]]) -> None:
        target = items[0].stash[ITEM].target
        try:
            for n, (item, future) in enumerate(zip(items, futures, strict=True)):
                if not future.set_running_or_notify_cancel():
                    continue
                info = item.stash[ITEM]
                observed = observe(item.obj, {info.kind: target}, info, self.windows, self.markexpr)
                item.ihook.pytest_healthgate_check_observed(item=item, failed=observed.error is not None)
                if n == len(items) - 1:
                    target.close()  # before the last result is out, so the item's teardown finds nothing open
                future.set_result(observed)
        finally:
            target.close()

    def take(self, item: pytest.Item) -> Observed | None:
        with self._lock:
            future = self._futures.pop(item.nodeid, None)
        return future.result() if future is not None else None

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def observe(check: Callable[..., Any], kwargs: dict[str, Any], info: ItemInfo, windows: eventually.Windows,
            markexpr: str) -> Observed:
    """Run one check, capturing what it recorded and how it ended (in whichever thread runs it)."""
    record = expect_mod.CheckRecord()
    expect_mod.current.set(record)
    started = time.monotonic()
    try:
        if eventually.applies(info.eventually, _selected_phases(info, markexpr)):
            assert info.eventually is not None
            window = windows.of(info.target.id, info.eventually)
            error, waited = eventually.call(check, kwargs, target=info.target, policy=info.eventually,
                                            window=window)
            record = expect_mod.current.get() or record
            record.evidence.append(("eventually", waited))
            return Observed(record, error, waited, time.monotonic() - started)
        check(**kwargs)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # every outcome, skips and failures included, is reported by the item
        return Observed(expect_mod.current.get() or record, exc, "", time.monotonic() - started)
    return Observed(expect_mod.current.get() or record, None, "", time.monotonic() - started)


def _selected_phases(info: ItemInfo, markexpr: str) -> list[str]:
    return [phase.strip() for phase in phase_suite(info.phases, markexpr).split(",")]


# ----------------------------------------------------------------------------------------------- hooks

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("healthgate").addoption(
        "--concurrency", dest="hg_concurrency", type=_positive_int, default=None, metavar="N",
        help=f"targets observed at once (default: the profile's concurrency, else {DEFAULT_CONCURRENCY})")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise pytest.UsageError(f"--concurrency={value}: give a whole number of targets, 1 or more")
    return number


def _observer(config: pytest.Config) -> Observer:
    observer = config.stash.get(OBSERVER, None)
    if observer is None:
        state = config.stash[STATE]
        profile_value = getattr(state.profile.header, "concurrency", None) if state.profile else None
        concurrency = config.getoption("hg_concurrency") or profile_value or DEFAULT_CONCURRENCY
        observer = Observer(concurrency, markexpr=str(config.option.markexpr or ""))
        config.stash[OBSERVER] = observer
    return observer


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Every selected item is known now: observe them all.

    Not in an xdist worker: there a check that kills its process must be reported as the one that did (xdist
    blames the item it was running), which observing ahead would get wrong. Workers run their checks in order,
    as pytest does; ``-n`` adds processes, ``--concurrency`` the targets each run observes at once."""
    if not hasattr(session.config, "workerinput") and not session.config.option.collectonly:
        _observer(session.config).start(session.items)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    info = pyfuncitem.stash.get(ITEM, None)
    if info is None:
        return None
    observer = _observer(pyfuncitem.config)
    observed = observer.take(pyfuncitem) or observe(pyfuncitem.obj, pytest_compat.call_arguments(pyfuncitem), info,
                                                    observer.windows, observer.markexpr)
    expect_mod.current.set(observed.record)
    pyfuncitem.stash[OBSERVED_SECONDS] = observed.seconds
    if observed.waited:
        pyfuncitem.user_properties.append((eventually.WAITED_PROPERTY, observed.waited))
    if observed.error is not None:
        raise observed.error
    return True


def pytest_unconfigure(config: pytest.Config) -> None:
    observer = config.stash.get(OBSERVER, None)
    if observer is not None:
        observer.stop()
