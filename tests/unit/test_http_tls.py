"""Hostname matching of TLS targets (RFC 6125 as browsers apply it), from tables, without a server."""

from __future__ import annotations

import pytest

from healthgate.targets.tls.facts import hostname_matches
from healthgate.targets.tls.settings import Settings


@pytest.mark.parametrize(("name", "dns", "ips", "matches"), [
    ("app.example.com", ["app.example.com"], [], True),
    ("APP.Example.com", ["app.example.COM"], [], True),
    ("app.example.com.", ["app.example.com"], [], True),
    ("app.example.com", ["*.example.com"], [], True),
    ("a.b.example.com", ["*.example.com"], [], False),      # a wildcard covers one label
    ("example.com", ["*.example.com"], [], False),
    ("example.com", ["*.com"], [], False),                   # no wildcard over a public suffix-like label
    ("app.example.com", ["ap*.example.com"], [], False),     # partial wildcards are not honoured
    ("app.example.com", ["other.example.com"], [], False),
    ("app.example.com", [], [], False),
    ("127.0.0.1", ["127.0.0.1"], [], False),                 # an address matches IP entries only
    ("127.0.0.1", [], ["127.0.0.1"], True),
    ("::1", [], ["0:0:0:0:0:0:0:1"], True),
    ("[::1]", [], ["::1"], True),
    ("10.0.0.1", ["*.example.com"], ["10.0.0.2"], False),
])
def test_hostname_matches(name: str, dns: list[str], ips: list[str], matches: bool) -> None:
    assert hostname_matches(name, dns, ips) is matches


def test_settings_defaults() -> None:
    s = Settings.model_validate({"host": "app.example.com"})
    assert (s.port, s.expected_name, s.address()) == (443, "app.example.com", "app.example.com:443")
    assert (s.thresholds.expiry_warning_days, s.thresholds.expiry_critical_days) == (30, 7)
    assert Settings.model_validate({"host": "10.0.0.5", "server_name": "app"}).expected_name == "app"
    assert Settings.model_validate({"host": "::1", "port": 8443}).address() == "[::1]:8443"
