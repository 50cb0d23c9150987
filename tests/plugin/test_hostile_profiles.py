"""Hostile profiles as a user meets them: a run ends with exit 4 and the profile error (never INTERNALERROR),
``python -m healthgate validate`` prints the error (never a traceback), and a secret written literally in a
profile stays out of the output when a server echoes it back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "unit" / "profile_corpus"
# One of each kind of failure the loader used to have: recursion, a TypeError inside a settings validator, an
# alias bomb (minutes and gigabytes), an OSError from the file system, a value that loaded but broke every check.
REPRODUCERS = ["recursive-sequence-alias", "unhashable-preset", "alias-bomb-7-levels", "extends-name-too-long",
               "nan-inf-timeouts"]


def _expected(name: str) -> str:
    """``:<line>: <key>: <message>`` from the corpus file's first line (see profile_corpus/README.md)."""
    return (CORPUS / f"{name}.yaml").read_text(errors="replace").split("\n", 1)[0][len("# expect: "):]


def _setup(pytester: pytest.Pytester, profile: bytes, checks: Path | None = None) -> Path:
    path = pytester.path / "profile.yaml"
    path.write_bytes(profile)
    pytester.mkdir("checks")
    if checks is not None:
        shutil.copy(checks, pytester.path / "checks" / checks.name)
    pytester.makeini("[pytest]\ntestpaths = checks\naddopts = --strict-markers -p no:cacheprovider\n")
    return path


@pytest.mark.parametrize("name", REPRODUCERS)
def test_a_hostile_profile_ends_the_run_with_exit_4_and_the_profile_error(pytester, name):
    path = _setup(pytester, (CORPUS / f"{name}.yaml").read_bytes())
    result = pytester.runpytest_subprocess("--profile=profile.yaml", "-m", "daily")
    assert result.ret == 4, result.stderr.str()[-2000:]
    assert result.stderr.str().startswith("ERROR: profile error: ")
    assert f"{path}{_expected(name)}" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("name", REPRODUCERS)
def test_validate_prints_the_profile_error_without_a_traceback(tmp_path, name):
    path = tmp_path / "profile.yaml"
    path.write_bytes((CORPUS / f"{name}.yaml").read_bytes())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "healthgate", "validate", str(path)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env)
    assert (done.returncode, done.stdout) == (4, ""), done.stderr[-2000:]
    assert done.stderr.startswith("INVALID ") and f"{path}{_expected(name)}" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


class _Echo(BaseHTTPRequestHandler):
    """A server that is down and quotes the request's credentials in its error page, as some proxies do."""

    def do_GET(self) -> None:
        body = (f"denied: key {self.headers.get('X-Api-Key')} auth {self.headers.get('Authorization')}"
                ).encode()
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_secrets_written_literally_in_a_profile_stay_out_of_the_output(pytester, echo_server):
    profile = (f"timeouts: {{connect: 2s, read: 2s}}\ntargets:\n  http:\n    web:\n      url: {echo_server}\n"
               "      token: literal-token-0123456789\n      headers: {X-Api-Key: literal-key-9876543210}\n")
    _setup(pytester, profile.encode(), checks=ROOT / "checks" / "test_http.py")
    result = pytester.runpytest_subprocess("--profile=profile.yaml", "-m", "post_deploy", "-k",
                                           "test_health_endpoint", "--junitxml=out.xml")
    output = result.stdout.str() + result.stderr.str()
    junit = (pytester.path / "out.xml").read_text()
    assert result.ret == 1, output[-3000:]
    assert "denied: key *** auth Bearer ***" in output  # the server's answer is shown, its echo masked
    for secret in ("literal-token-0123456789", "literal-key-9876543210"):
        assert (output.count(secret), junit.count(secret)) == (0, 0), secret
