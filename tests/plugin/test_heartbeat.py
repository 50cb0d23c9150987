"""The heartbeat against a real local monitor that records each ping's path: /start when the run starts, the bare
URL on a green gate, /<exit status> otherwise, paired by one run id; a monitor that is down or wedged costs at most
the ping's timeout and never changes the verdict; the URL's token is in no output of the run."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.plugin.test_plugin import profile_for, run, setup

# The token part of a healthchecks.io ping URL: whoever holds it can report the run healthy.
TOKEN = "8c1f0e52-5b7d-4e3a-9f61-0d2c7a4b9e13"


class Monitor:
    """A healthchecks.io-like endpoint recording each ping (path and run id)."""

    def __init__(self) -> None:
        self.pings: list[tuple[str, str]] = []
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                monitor.pings.append((url.path, parse_qs(url.query).get("rid", [""])[0]))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ping/{TOKEN}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def monitor():
    server = Monitor()
    yield server
    server.close()


def heartbeat_profile(pytester, monkeypatch, url: str, target_url: str, timeout: str = "5s", extra: str = "") -> None:
    heartbeat = f'heartbeat: {{url: "${{HG_HEARTBEAT_URL}}", timeout: {timeout}}}'
    setup(pytester, profile_for(target_url, f"{heartbeat}\n        {extra}"))
    monkeypatch.setenv("HG_HEARTBEAT_URL", url)  # the run's interpreter inherits it


def outputs(pytester, result) -> str:
    files = [p for p in (pytester.path / "out").rglob("*") if p.is_file()]
    return result.stdout.str() + result.stderr.str() + "".join(p.read_text(errors="replace") for p in files)


def test_a_green_run_pings_start_then_the_bare_url_with_one_run_id(pytester, monkeypatch, monitor, http_server):
    heartbeat_profile(pytester, monkeypatch, monitor.url, http_server.url)
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--junitxml=out/junit.xml",
                 "--summary-json=out/s.json", "--metrics-textfile=out/m.prom", "--alluredir=out/allure")
    assert result.ret == 0
    (start, start_rid), (end, end_rid) = monitor.pings
    assert (start, end) == (f"/ping/{TOKEN}/start", f"/ping/{TOKEN}")
    assert start_rid == end_rid and len(start_rid) == 36
    result.stdout.fnmatch_lines(["heartbeat: start delivered", "heartbeat: end (exit status 0) delivered"])
    assert TOKEN not in outputs(pytester, result)


def test_a_red_run_pings_its_exit_status(pytester, monkeypatch, monitor, http_server):
    http_server.answers = [503]
    heartbeat_profile(pytester, monkeypatch, monitor.url, http_server.url)
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--junitxml=out/junit.xml",
                 "--summary-json=out/s.json")
    assert result.ret == 1
    assert [path for path, _ in monitor.pings] == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}/1"]
    assert json.loads((pytester.path / "out/s.json").read_text())["exit_status"] == 1
    assert TOKEN not in outputs(pytester, result)


def test_a_run_stopped_at_collection_pings_the_usage_error(pytester, monkeypatch, monitor, http_server):
    heartbeat_profile(pytester, monkeypatch, monitor.url, http_server.url,
                      extra="waivers: [{check: test_no_such_check, reason: r, until: 2999-01-01}]")
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy")
    assert result.ret == 4
    assert [path for path, _ in monitor.pings] == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}/4"]


def test_listing_the_checks_is_not_a_run_and_pings_nothing(pytester, monkeypatch, monitor, http_server):
    heartbeat_profile(pytester, monkeypatch, monitor.url, http_server.url)
    assert run(pytester, "--profile=profile.yaml", "--collect-only", "-q").ret == 0
    assert monitor.pings == []


def test_a_monitor_that_is_down_never_changes_the_verdict(pytester, monkeypatch, http_server):
    from tests.report.support import closed_port

    heartbeat_profile(pytester, monkeypatch, f"http://127.0.0.1:{closed_port()}/ping/{TOKEN}", http_server.url)
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy", "--summary-json=out/s.json")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "heartbeat: start not delivered (ConnectError: *; limit 5s): the monitor will report this run late or down",
        "heartbeat: end (exit status 0) not delivered (ConnectError: *",
        "GATE GREEN*",
    ])
    assert TOKEN not in outputs(pytester, result)


def test_a_wedged_monitor_costs_at_most_the_pings_timeout(pytester, monkeypatch, black_hole, http_server):
    heartbeat_profile(pytester, monkeypatch, f"{black_hole.url}/ping/{TOKEN}", http_server.url, timeout="1s")
    started = time.monotonic()
    result = run(pytester, "--profile=profile.yaml", "-m", "pre_deploy")
    elapsed = time.monotonic() - started
    assert result.ret == 0
    result.stdout.fnmatch_lines(["heartbeat: start not delivered (ReadTimeout*; limit 1s)*",
                                 "heartbeat: end (exit status 0) not delivered (ReadTimeout*"])
    assert black_hole.accepted == 2
    # two pings of 1 s each on top of a run that takes a few seconds in a fresh interpreter
    assert elapsed < 30, elapsed
    assert TOKEN not in outputs(pytester, result)


def test_under_xdist_the_run_pings_once_not_once_per_worker(pytester, monkeypatch, monitor, http_server):
    heartbeat_profile(pytester, monkeypatch, monitor.url, http_server.url)
    assert run(pytester, "--profile=profile.yaml", "-m", "daily", "-n", "2").ret == 0
    assert [path for path, _ in monitor.pings] == [f"/ping/{TOKEN}/start", f"/ping/{TOKEN}"]
