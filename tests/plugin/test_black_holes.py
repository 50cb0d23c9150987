"""Every target kind black-holed at once (accepts TCP, never answers): the run ends, every check is 'could not
check', and each target costs one connection attempt, not one per check. Time is measured in bench/; here the
proof is the count of connections each black hole accepted."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

KINDS_AND_SETTINGS = {
    "http": lambda url, port: f'{{url: "{url}"}}',
    "postgres": lambda url, port: f'{{dsn: "postgresql://healthgate:S3cretPa55-zz91@127.0.0.1:{port}/app"}}',
    "redis": lambda url, port: f'{{url: "redis://healthgate:S3cretPa55-zz91@127.0.0.1:{port}/0"}}',
    "opensearch": lambda url, port: f'{{url: "{url}"}}',
    "prometheus": lambda url, port: f'{{url: "{url}", expect_rules: [ServiceDown]}}',
    "alertmanager": lambda url, port: f'{{url: "{url}"}}',
    "tls": lambda url, port: f"{{host: 127.0.0.1, port: {port}}}",
}


def test_black_holed_targets_of_every_kind_fail_fast_once_each(pytester, request):
    from tests.plugin.conftest import BlackHole

    holes = {kind: BlackHole() for kind in KINDS_AND_SETTINGS}
    request.addfinalizer(lambda: [hole.close() for hole in holes.values()])
    lines = ["name: blackholes", "timeouts: {connect: 1s, read: 1s}", "targets:"]
    for kind, settings in KINDS_AND_SETTINGS.items():
        hole = holes[kind]
        lines += [f"  {kind}:", f"    wedged: {settings(hole.url, hole.port)}"]
    profile = pytester.path / "profile.yaml"
    profile.write_text("\n".join(lines) + "\n")
    result = pytester.runpytest_subprocess(
        f"--profile={profile}", "-m", "daily or pre_deploy or post_deploy", "--summary-json=s.json",
        f"--rootdir={ROOT}", "-p", "no:randomly", str(ROOT / "checks"),
    )
    assert result.ret == 1, result.stdout.str()[-3000:]
    summary = json.loads((pytester.path / "s.json").read_text())
    per_target: dict[str, list[str]] = {}
    for failure in summary["failed"]:
        per_target.setdefault(failure["target"], []).append(failure["status"])
    assert sorted(per_target) == sorted(f"{kind}:wedged" for kind in KINDS_AND_SETTINGS)
    assert summary["counts"]["passed"] == 0
    assert all(status == "broken" for statuses in per_target.values() for status in statuses), per_target
    accepted = {kind: hole.accepted for kind, hole in holes.items()}
    print("connections accepted per black-holed target:", accepted)
    assert set(accepted.values()) == {1}, accepted
    assert "S3cretPa55-zz91" not in result.stdout.str() + result.stderr.str()
