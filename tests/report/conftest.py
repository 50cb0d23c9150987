"""Report tests run a small check module through pytest in a subprocess with --alluredir, against a real local
HTTP service, and read the files a user's run would leave behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.report.support import CI_VARIABLES, PASSWORD, TOKEN, EchoServer


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No CI variables from the machine running these tests; the profile's secrets in the environment."""
    for name in CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HG_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("HG_TEST_TOKEN", TOKEN)
    return monkeypatch
