import textwrap

import pytest

from healthgate.errors import ProfileError
from healthgate.profile import json_schema, load_profile
from healthgate.redact import forget_secrets, redact


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(path, **env):
    return load_profile(path, environ=env)


def test_a_minimal_profile_loads_with_seed_defaults(tmp_path):
    path = write(tmp_path, "p.yaml", """
        name: prod
        targets:
          http:
            web: {url: "http://127.0.0.1:8000"}
        """)
    profile = load(path)
    (name, web), = profile.targets_of("http")
    assert (profile.name, name, web.thresholds.latency_p95, web.health.path) == ("prod", "web", 2.0, "/health")


def test_name_defaults_to_the_file_name(tmp_path):
    assert load(write(tmp_path, "staging.yaml", "targets: {}\n")).name == "staging"


def test_environment_variables_are_interpolated_with_defaults(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            web: {url: "http://${HOST}:${PORT:-8000}", headers: {X-Cost: "$$5"}}
        """)
    web = load(path, HOST="app.internal").targets["http"]["web"]
    assert (web.url, web.headers["X-Cost"]) == ("http://app.internal:8000", "$5")


def test_an_unset_variable_without_default_names_file_line_key_and_fix(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            web:
              url: "http://${APP_HOST}/"
        """)
    with pytest.raises(ProfileError) as err:
        load(path)
    text = str(err.value)
    assert f"{path}:5: targets.http.web.url: environment variable APP_HOST is not set" in text
    assert "export APP_HOST=" in text


def test_interpolated_passwords_are_registered_as_secrets(tmp_path):
    forget_secrets()
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            web: {url: "https://u:${WEB_PASSWORD}@x/", token: "${API_TOKEN}"}
        """)
    load(path, WEB_PASSWORD="pa55word-xyz", API_TOKEN="tok-0123456789")
    assert redact("pa55word-xyz and tok-0123456789") == "*** and ***"
    forget_secrets()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("targets:\n  http:\n    web: {url: x, urll: y}\n", "targets.http.web.urll: unknown key"),
        ("targets:\n  http:\n    web: {url: x, thresholds: {latency_p95: 5 s}}\n",
         "targets.http.web.thresholds.latency_p95: '5 s'"),
        ("targets:\n  http:\n    web: {url: x, max_body: 10MB}\n", "write KiB, MiB, GiB or TiB"),
        ("targets:\n  kafka:\n    main: {}\n", "targets.kafka: unknown target kind 'kafka'"),
        ("targets:\n  http:\n    web: {}\n", "targets.http.web.url: Field required"),
        ("targets:\n  http:\n    web: {url: 5}\n", "targets.http.web.url: 5: Input should be a valid string"),
        ("timeouts: {connect: fast}\n", "timeouts.connect: 'fast' is not a duration"),
        ("checks: {test_x: {severity: fatal}}\n", "checks.test_x.severity"),
        ("targets: [1, 2]\n", "'targets' must map target kinds"),
        ("- a\n- b\n", "a profile is a mapping of keys, not a list"),
        ("targets: {http: {web: {url: x}}\n", "not valid YAML"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
        ("targets:\n  http:\n    'bad name': {url: x}\n", "is not a valid target name"),
        ("targets:\n  http:\n    web: {url: 'http://${BROKEN'}\n", "malformed variable reference"),
    ],
)
def test_bad_input_is_a_profile_error_naming_the_key(tmp_path, body, fragment):
    path = write(tmp_path, "p.yaml", body)
    with pytest.raises(ProfileError) as err:
        load(path)
    assert fragment in str(err.value)
    assert str(path) in str(err.value)


def test_all_problems_are_reported_at_once(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n    a: {url: x, nope: 1}\n    b: {}\n")
    with pytest.raises(ProfileError) as err:
        load(path)
    assert "2 problems" in str(err.value)


def test_missing_profile_lists_known_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    write(tmp_path / "profiles", "prod.yaml", "targets: {}\n")
    with pytest.raises(ProfileError, match="no profile named 'prdo'.*known profiles: prod"):
        load_profile("prdo")


def test_extends_merges_parent_and_child_and_null_removes(tmp_path):
    write(tmp_path, "production.yaml", """
        timeouts: {connect: 2s}
        targets:
          http:
            web: {url: "https://prod", thresholds: {latency_p95: 1s}}
            legacy: {url: "https://old"}
        """)
    path = write(tmp_path, "staging.yaml", """
        extends: production
        targets:
          http:
            web: {url: "https://staging"}
            legacy: null
        """)
    profile = load(path)
    web = profile.targets["http"]["web"]
    assert (profile.name, web.url, web.thresholds.latency_p95, sorted(profile.targets["http"]),
            profile.header.timeouts.connect) == ("staging", "https://staging", 1.0, ["web"], 2.0)


def test_extends_cycle_is_refused(tmp_path):
    write(tmp_path, "a.yaml", "extends: b\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ProfileError, match="extends cycle: a.yaml -> b.yaml -> a.yaml"):
        load(tmp_path / "a.yaml")


def test_extends_of_a_missing_parent_names_it(tmp_path):
    path = write(tmp_path, "a.yaml", "extends: ./nothere.yaml\n")
    with pytest.raises(ProfileError, match="extends './nothere.yaml'"):
        load(path)


def test_json_schema_describes_targets_per_kind():
    schema = json_schema()
    http = schema["properties"]["targets"]["properties"]["http"]
    assert http["additionalProperties"] == {"$ref": "#/$defs/HttpTarget"}
    assert schema["$defs"]["HttpTarget"]["additionalProperties"] is False
    assert "url" in schema["$defs"]["HttpTarget"]["required"]
