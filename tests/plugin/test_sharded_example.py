"""The sharded Kubernetes example does what it says: each pod's command, run here with its JOB_COMPLETION_INDEX,
checks its share of the targets, and the merge Job's command turns the shards' summaries into the gate."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "kubernetes" / "sharded-job.yaml"


def jobs() -> tuple[dict, dict]:
    shards, merge = yaml.safe_load_all(EXAMPLE.read_text())
    return shards, merge


def test_an_indexed_job_runs_one_pod_per_shard_and_a_merge_job_decides():
    shards, merge = jobs()
    spec = shards["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    command = spec["template"]["spec"]["containers"][0]["args"][0]
    assert "--shard=$((JOB_COMPLETION_INDEX + 1))/3" in command
    assert "python -m healthgate merge" in merge["spec"]["template"]["spec"]["containers"][0]["args"][0]


def _shell(command: str, results: Path, profile: Path) -> str:
    return command.replace("/etc/healthgate/production.yaml", str(profile)).replace("/results", str(results))


@pytest.mark.parametrize("healthy", [True, False], ids=["green", "red"])
def test_the_pods_commands_check_every_target_once_and_the_merge_gives_the_verdict(tmp_path, http_server,
                                                                                    black_hole, healthy):
    urls = {f"web{n}": http_server.url for n in range(4)}
    if not healthy:
        urls["dead"] = black_hole.url
    targets = "\n".join(f'    {name}: {{url: "{url}"}}' for name, url in urls.items())
    profile = tmp_path / "production.yaml"
    profile.write_text(textwrap.dedent("name: production\ntimeouts: {connect: 5s, read: 5s}\ntargets:\n  http:\n")
                       + targets + "\n")
    results = tmp_path / "results"
    (results / "shards").mkdir(parents=True)
    shards, merge = jobs()
    pod = _shell(shards["spec"]["template"]["spec"]["containers"][0]["args"][0], results, profile)
    for index in range(3):
        env = dict(os.environ, JOB_COMPLETION_INDEX=str(index))
        subprocess.run(["sh", "-c", pod], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    merged = subprocess.run(["sh", "-c", _shell(merge["spec"]["template"]["spec"]["containers"][0]["args"][0],
                                                results, profile)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert merged.returncode == (0 if healthy else 1), merged.stdout + merged.stderr
    assert "3 of 3 shard(s)" in merged.stdout
    assert (results / "daily.json").is_file()
