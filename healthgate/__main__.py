"""Command line: ``python -m healthgate schema | validate PROFILE | list PROFILE [-m PHASE] | report ... |
merge SUMMARY... | push-metrics FILE URL``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from healthgate.errors import ProfileError


def _schema(_: argparse.Namespace) -> int:
    from healthgate.profile import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def _load(spec: str) -> Any:
    from healthgate import provision
    from healthgate.profile import load_profile, resolve_profile_path

    path = resolve_profile_path(spec)
    environ = provision.placeholder_environ() if provision.requested(path) else None
    return load_profile(path, environ=environ)


def _validate(args: argparse.Namespace) -> int:
    import datetime as dt

    from healthgate import waiver_review
    from healthgate.profile import ProfileErrors

    try:
        profile = _load(args.profile)
        expired = waiver_review.expired(profile, dt.date.today())
        if expired:  # a run would be red for it: say so when the profile is checked, not at the next deploy
            raise ProfileErrors(expired)
    except ProfileError as exc:
        print(f"INVALID {exc}", file=sys.stderr)
        return 4
    count = sum(len(v) for v in profile.targets.values())
    kinds = ", ".join(f"{k}: {len(v)}" for k, v in sorted(profile.targets.items()))
    extras = [f"{len(profile.header.waivers)} waiver(s)"] if profile.header.waivers else []
    extras += ["heartbeat"] if profile.header.heartbeat else []
    print(f"OK {profile.path}: profile {profile.name!r}, {count} target(s) ({kinds})"
          + (f", {', '.join(extras)}" if extras else ""))
    return 0


def _list(args: argparse.Namespace) -> int:
    import pytest

    rows: list[tuple[str, str, str, str]] = []

    class Lister:
        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            from healthgate.run_state import ITEM

            for item in items:
                info = item.stash.get(ITEM, None)
                if info is not None:
                    rows.append((info.check, info.target.id, info.severity, ",".join(info.phases)))

    pytest_args = ["--collect-only", "-p", "no:terminal", f"--profile={args.profile}"]
    if args.m:
        pytest_args += ["-m", args.m]
    pytest_args.append(str(args.checks))
    code = pytest.main(pytest_args, plugins=[Lister()])
    if code not in (0, 5):
        return int(code)
    width = max([len(r[0]) for r in rows] + [5])
    twidth = max([len(r[1]) for r in rows] + [6])
    print(f"{'check':<{width}}  {'target':<{twidth}}  {'severity':<8}  phases")
    for check, target, severity, phases in rows:
        print(f"{check:<{width}}  {target:<{twidth}}  {severity:<8}  {phases}")
    print(f"{len(rows)} check(s)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from healthgate.html_report import generate

    return generate([Path(r) for r in args.results], Path(args.output), single_file=args.single_file,
                    generator=args.generator, report_url=args.report_url)


def _merge(args: argparse.Namespace) -> int:
    from healthgate.merge import MergeError, lines, merge

    try:
        merged = merge([Path(p) for p in args.summaries])
    except MergeError as exc:
        print(f"healthgate merge: {exc}", file=sys.stderr)
        return 4
    if args.output:
        Path(args.output).write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines(merged)))
    return int(merged["exit_status"])


def _push_metrics(args: argparse.Namespace) -> int:
    from healthgate.run_outputs import push_metrics

    problem = push_metrics(Path(args.file), args.url, timeout=args.timeout)
    if problem:
        print(f"healthgate push-metrics: {problem}", file=sys.stderr)
        return 2
    return 0


def _catalogue(args: argparse.Namespace) -> int:
    from healthgate.catalogue import render

    print(render(Path(args.root).resolve()), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m healthgate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the profile JSON Schema").set_defaults(fn=_schema)
    validate = sub.add_parser("validate", help="check a profile without touching any target")
    validate.add_argument("profile")
    validate.set_defaults(fn=_validate)
    lister = sub.add_parser("list", help="show which checks would run on which target")
    lister.add_argument("profile")
    lister.add_argument("-m", metavar="PHASE", help="phase marker expression, e.g. daily or 'pre_deploy'")
    lister.add_argument("--checks", default="checks", help="directory of checks (default: checks)")
    lister.set_defaults(fn=_list)
    report = sub.add_parser("report", help="generate the Allure HTML report")
    report.add_argument("results", nargs="*", default=["allure-results"],
                        help="one or more results folders (the shards of a run)")
    report.add_argument("-o", "--output", default="allure-report")
    report.add_argument("--single-file", action="store_true")
    report.add_argument("--generator", choices=("allure3", "allure2"), default="allure3",
                        help="allure3 (default: npm 'allure' 3.x, Node only) or allure2 (npm 'allure-commandline', "
                             "needs Java 17)")
    report.add_argument("--report-url", metavar="URL",
                        help="address the report will be served at (default: $HEALTHGATE_REPORT_URL); Allure 3 "
                             "turns relative runbook links into links under it")
    report.set_defaults(fn=_report)
    merger = sub.add_parser("merge", help="one verdict and exit status from the shards' --summary-json files")
    merger.add_argument("summaries", nargs="+")
    merger.add_argument("-o", "--output", help="write the merged summary as JSON")
    merger.set_defaults(fn=_merge)
    pusher = sub.add_parser("push-metrics", help="send a --metrics-textfile to a Pushgateway (where no "
                                                  "node_exporter reads it: a Kubernetes CronJob)")
    pusher.add_argument("file")
    pusher.add_argument("url", help="Pushgateway group URL, e.g. http://pushgateway:9091/metrics/job/healthgate")
    pusher.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    pusher.set_defaults(fn=_push_metrics)
    catalogue = sub.add_parser("catalogue", help="print the check catalogue (checks/README.md)")
    catalogue.add_argument("--root", default=".", help="checkout holding checks/ and tests/")
    catalogue.set_defaults(fn=_catalogue)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except ProfileError as exc:
        print(f"INVALID {exc}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
