"""Every use of pytest's and pytest-xdist's private API, in one place.

Written for pytest 9.2 and pytest-xdist 3.8 (``pyproject.toml`` bounds both to those major versions, and the
plugin tests exercise each function here). When either moves, this module is the one to read.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import pytest


def ini_setup_for(args: list[str], invocation_dir: Path) -> tuple[Path, Path | None]:
    """The root directory and ini file pytest would pick for these test-path arguments (``determine_setup``)."""
    from _pytest.config.findpaths import determine_setup

    rootpath, inipath, *_ = determine_setup(inifile=None, override_ini=None, args=args, rootdir_cmd_arg=None,
                                            invocation_dir=invocation_dir)
    return rootpath, inipath


def distribution_chosen_by_user(config: pytest.Config) -> bool:
    """Whether the command line (or PYTEST_ADDOPTS) names a distribution mode. xdist's own
    ``pytest_cmdline_main`` turns ``dist`` from "no" into "load" whenever ``-n`` is given, before or after ours
    depending on plugin order, so the option's value cannot tell a default from a choice."""
    words = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    return any(w == "--dist" or w.startswith("--dist=") or w in ("-d", "--distload") for w in words)


def carry_group_suffix_over(item: pytest.Item) -> None:
    """Make ``--dist loadgroup`` group on pytest 9: xdist 3.8 marks the group by assigning ``item._nodeid``,
    which pytest 9 no longer reads (the id lives in ``item._id``), so the grouping would silently do nothing."""
    from _pytest.nodes import coerce_node_id

    legacy = item.__dict__.get("_nodeid")
    if legacy and legacy != item.nodeid:
        item._id = coerce_node_id(legacy)


def mark_crashed_item_done(sched: Any, crashitem: str) -> None:
    """xdist's grouped scheduler hands a crashed worker's whole group back, the crashed item included; marking it
    done in ``sched.workqueue`` keeps a replacement worker from running (and dying on) it again."""
    for work_unit in getattr(sched, "workqueue", {}).values():
        if isinstance(work_unit, dict) and crashitem in work_unit:
            work_unit[crashitem] = True


def argument_names(item: pytest.Function) -> tuple[str, ...]:
    """The names a test function is called with (``_fixtureinfo.argnames``), known from collection on."""
    return tuple(item._fixtureinfo.argnames)


def call_arguments(item: pytest.Function) -> dict[str, Any]:
    """The fixture values a set-up test function is called with, to call it ourselves."""
    return {name: item.funcargs[name] for name in argument_names(item)}


def skip_unraisable_collection(config: pytest.Config) -> None:
    """pytest forces a full garbage collection at the end of every run to surface exceptions raised in
    finalizers (``gc_collect_iterations_key``, set to 0 by pytester for its in-process runs the same way)."""
    from _pytest.unraisableexception import gc_collect_iterations_key

    config.stash[gc_collect_iterations_key] = 0


def report_errors_without_traceback(item: pytest.Item, errors: tuple[type[BaseException], ...]) -> None:
    """A failure raised as one of ``errors`` is reported by its message alone, without pytest formatting its
    traceback: the engine's own errors (the clients' "could not check") say everything in their message and the
    report replaces pytest's text anyway, while formatting costs about 30 ms of CPU per failed item (read source,
    walk frames): most of the run when a fleet of dead targets fails all at once. Other exceptions, faults in a
    check, keep their traceback. ``TestReport.from_item_and_call`` asks ``item.repr_failure``, hence the
    override on the item."""
    formatted = item.repr_failure

    def repr_failure(excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        if isinstance(excinfo.value, errors):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return formatted(excinfo)

    setattr(item, "repr_failure", repr_failure)  # noqa: B010  (an assignment mypy would refuse on a method)
