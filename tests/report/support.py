"""A real local HTTP service, a small check module and readers for the Allure files a run leaves behind."""

from __future__ import annotations

import base64
import json
import os
import socket
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PASSWORD = "S3cretPa55-zz91"
TOKEN = "T0ken-S3cret-4471"
SECRETS = (PASSWORD, TOKEN)

CI_VARIABLES = (
    "CI", "GITHUB_ACTIONS", "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_RUN_ATTEMPT", "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_WORKFLOW", "GITHUB_JOB", "GITLAB_CI", "CI_PIPELINE_ID",
    "CI_PIPELINE_IID", "CI_PIPELINE_URL", "CI_JOB_URL", "CI_JOB_NAME", "CI_PROJECT_URL", "CI_PROJECT_PATH",
    "CI_COMMIT_SHA", "CI_SERVER_URL", "BUILD_NUMBER", "BUILD_URL", "JOB_NAME", "JENKINS_URL", "GIT_COMMIT",
    "HEALTHGATE_REPORT_URL", "HEALTHGATE_PROFILE",
)

CHECKS = '''
from healthgate.check import ALL, DAILY, PRE, check
from healthgate.expect import evidence, expect, note


@check(phases=ALL, severity="critical", runbook="health-endpoint")
def test_health_endpoint(http):
    """The health endpoint answers 200."""
    response = http.client.get("/health")
    evidence("request", f"GET {response.url}")
    evidence("response", f"HTTP {response.status}\\n{response.text()[:2000]}")
    expect(http, "status", response.status, "==", 200, hint="restart the service or roll back")


@check(phases=(PRE, DAILY), severity="warning", runbook="latency")
def test_latency(http):
    """The health endpoint answers within 2 s."""
    response = http.client.get("/health")
    note("one sample only: latency_p95 needs a series")
    expect(http, "latency_s", round(response.elapsed, 4), "<=", 2.0, unit="s")
'''


class EchoServer:
    """A service with a debug-style health page: it answers 503 to Basic-authenticated callers, 200 to Bearer ones,
    and echoes the credentials it received in the body, as careless error pages do."""

    def __init__(self) -> None:
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                auth = self.headers.get("Authorization", "")
                scheme, _, value = auth.partition(" ")
                seen = base64.b64decode(value).decode() if scheme == "Basic" else value
                status = 503 if scheme == "Basic" else 200
                body = json.dumps({"status": "down" if status != 200 else "ok", "seen_credentials": seen}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


WAIVER_TEXT = "waived until 2999-01-01: gone is being decommissioned (CHG-42) (approved by ops lead)"


def write_project(path: Path, port: int, gone_port: int, *, waive: bool = False) -> None:
    """Profile: web (password in the URL, from ${VAR}) fails, api (token) passes, gone is unreachable; with
    ``waive``, a waiver lets gone's latency check (could not check) through."""
    waiver = """
        waivers:
          - check: test_latency
            target: "http:gone"
            reason: gone is being decommissioned (CHG-42)
            until: 2999-01-01
            approved_by: ops lead
        """ if waive else ""
    profile = f"""
        name: report-test
        timeouts: {{connect: 1s, read: 2s}}
        targets:
          http:
            web: {{url: "http://monitor:${{HG_TEST_PASSWORD}}@127.0.0.1:{port}"}}
            api: {{url: "http://127.0.0.1:{port}", token: "${{HG_TEST_TOKEN}}"}}
            gone: {{url: "http://127.0.0.1:{gone_port}"}}
        {waiver.strip()}
        """
    (path / "profile.yaml").write_text(textwrap.dedent(profile))
    (path / "checks").mkdir(exist_ok=True)
    (path / "checks" / "test_demo.py").write_text(CHECKS)
    (path / "pytest.ini").write_text("[pytest]\ntestpaths = checks\naddopts = --strict-markers -p no:cacheprovider\n")


def load_results(results: Path) -> dict[str, dict[str, Any]]:
    """Allure results by test name (``test_health_endpoint[http:web]``)."""
    found = {}
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        found[data["name"]] = data
    return found


def labels(result: dict[str, Any]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for label in result.get("labels", []):
        grouped.setdefault(label["name"], []).append(label["value"])
    return grouped


def attachments(results: Path, result: dict[str, Any]) -> dict[str, str]:
    """Attachment name → content, from the test and its steps."""
    found = {}
    for attachment in result.get("attachments", []):
        found[attachment["name"]] = (results / attachment["source"]).read_text()
    return found


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def environ_without_ci() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
