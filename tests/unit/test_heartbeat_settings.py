"""The heartbeat as the profile declares it: the healthchecks.io paths it pings, and the URL kept secret from the
moment it is read."""

from __future__ import annotations

import textwrap

import pytest

from healthgate.errors import ProfileError
from healthgate.heartbeat import START, Heartbeat
from healthgate.profile import load_profile
from healthgate.redact import forget_secrets, redact

UUID = "5b0c6f7e-3d1a-4c55-9c1e-2f8a7b6c5d4e"


@pytest.fixture(autouse=True)
def _no_secrets_left_behind():
    yield
    forget_secrets()


@pytest.mark.parametrize(("event", "path"), [
    (START, f"/{UUID}/start"), (0, f"/{UUID}"), (1, f"/{UUID}/1"), (4, f"/{UUID}/4"), (5, f"/{UUID}/5"),
])
def test_pings_follow_the_healthchecks_io_convention(event, path):
    heartbeat = Heartbeat.model_validate(f"https://hc-ping.com/{UUID}/")
    assert heartbeat.ping_url(event) == f"https://hc-ping.com{path}"


def test_the_url_comes_from_the_environment_and_is_masked_everywhere(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent("""
        name: p
        heartbeat: {url: "${HEALTHCHECK_URL}", timeout: 2s}
        """))
    profile = load_profile(path, environ={"HEALTHCHECK_URL": f"https://hc-ping.com/{UUID}"})
    heartbeat = profile.header.heartbeat
    assert heartbeat is not None and heartbeat.timeout == 2.0
    assert UUID not in repr(profile) and UUID not in str(profile.header.model_dump())
    assert redact(f"GET https://hc-ping.com/{UUID}/start failed") == "GET ***/start failed"
    assert redact(f"token {UUID} seen") == "token *** seen"


def test_a_short_path_is_not_masked_as_if_it_were_a_token():
    Heartbeat.model_validate("https://monitor.example.com/ping")
    assert redact("ping the monitor") == "ping the monitor"


@pytest.mark.parametrize(("value", "fragment"), [
    ("hc-ping.com/abc", "heartbeat.url: not an http(s) URL"),
    ("{url: 'ftp://hc-ping.com/abc'}", "heartbeat.url: not an http(s) URL"),
    ("{url: 'https://hc-ping.com/x', timeout: 2m}", "heartbeat.timeout: "),
])
def test_a_bad_heartbeat_is_refused_without_printing_the_url(tmp_path, value, fragment):
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nheartbeat: {value}\n")
    with pytest.raises(ProfileError) as err:
        load_profile(path, environ={})
    assert f"{path}:2: {fragment}" in str(err.value)
    assert "hc-ping.com/abc" not in str(err.value)


def test_the_json_schema_offers_both_forms_to_editors():
    from healthgate.profile import json_schema

    forms = json_schema()["$defs"]["Heartbeat"]["anyOf"]
    assert forms[0]["type"] == "string" and forms[1]["properties"]["url"]["writeOnly"] is True
