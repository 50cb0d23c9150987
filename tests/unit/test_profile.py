import re
import textwrap
import time

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


def test_merge_keys_share_settings_and_the_targets_own_keys_win(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            a: &web {url: "http://a", timeouts: {connect: 1s, read: 2s}, thresholds: {latency_p95: 1s}}
            b: {<<: *web, url: "http://b"}
            c:
              <<: [{url: "http://c"}, *web]
              description: shared
        """)
    http = load(path).targets["http"]
    assert [(t.url, t.timeouts.read, t.thresholds.latency_p95, t.description)
            for t in (http["a"], http["b"], http["c"])] == [
        ("http://a", 2.0, 1.0, ""), ("http://b", 2.0, 1.0, ""), ("http://c", 2.0, 1.0, "shared")]


def test_a_key_written_twice_is_still_a_duplicate_next_to_a_merge(tmp_path):
    path = write(tmp_path, "p.yaml", "x: &x {connect: 1s}\ntimeouts: {<<: *x, read: 1s, read: 2s}\n")
    with pytest.raises(ProfileError, match=r"p.yaml:2: timeouts.read: duplicate key 'read' \(first at line 2\)"):
        load(path)


def test_a_quoted_merge_key_is_an_ordinary_key(tmp_path):
    path = write(tmp_path, "p.yaml", "timeouts: {'<<': 5, connect: 1s}\n")
    with pytest.raises(ProfileError, match=r"p.yaml:1: timeouts.<<: unknown key"):
        load(path)


def test_an_error_in_a_merged_value_points_at_the_line_it_comes_from(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            a: &web {url: "http://a", thresholds: {latency_p95: fast}}
            b: {<<: *web, url: "http://b"}
        """)
    with pytest.raises(ProfileError) as err:
        load(path)
    assert [str(e).split(": ", 2)[:2] for e in err.value.errors] == [
        [f"{path}:4", "targets.http.a.thresholds.latency_p95"], [f"{path}:4", "targets.http.b.thresholds.latency_p95"]]


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("${A:-${B}}", {"A": "a"}, "a"),
        ("${A:-${B}}", {"A": "", "B": "b"}, "b"),
        ("x${A:-<${B:-${C:-c}}>}y", {}, "x<c>y"),
        ("${A:-$$}", {}, "$"),
        ("$${A:-x}", {}, "${A:-x}"),
        ("${A:-}", {}, ""),
        ("a $5 b $", {}, "a $5 b $"),
    ],
)
def test_a_default_may_itself_read_variables(tmp_path, template, environ, expected):
    path = write(tmp_path, "p.yaml", f"description: '{template}'\n")
    assert load(path, **environ).header.description == expected


def test_an_unset_variable_in_a_nested_default_is_named(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n    web: {url: '${A:-${B}}'}\n")
    with pytest.raises(ProfileError, match=r"p.yaml:3: targets.http.web.url: environment variable B is not set"):
        load(path)


def test_a_variable_used_many_times_in_one_value_is_reported_once(tmp_path):
    path = write(tmp_path, "p.yaml", "description: '" + "${NOPE}" * 1000 + "'\n")
    with pytest.raises(ProfileError) as err:
        load(path)
    assert len(err.value.errors) == 1


def test_a_typo_in_a_targets_settings_is_the_only_error_about_it(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          postgres:
            main:
              dsn: postgresql://db/app
              thresholds: {idle_in_transacton: 60}
        data_safety:
          baseline:
            postgres:
              main: {exact_tables: [orders]}
        """)
    with pytest.raises(ProfileError) as err:
        load(path)
    assert [str(e) for e in err.value.errors] == [
        f"{path}:6: targets.postgres.main.thresholds.idle_in_transacton: unknown key (check the spelling; "
        "`python -m healthgate schema` lists every accepted key)"]


def test_a_baseline_naming_an_undeclared_target_is_still_refused(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          postgres:
            main: {dsn: postgresql://db/app}
        data_safety:
          baseline:
            postgres:
              mian: {exact_tables: [orders]}
        """)
    with pytest.raises(ProfileError, match="no postgres target named 'mian'.*declared postgres targets: main"):
        load(path)


def test_secrets_written_literally_are_masked_like_interpolated_ones(tmp_path):
    forget_secrets()
    path = write(tmp_path, "p.yaml", """
        targets:
          http:
            web:
              url: "https://u:literal-pass-1@x/health?api_key=query-key-2"
              token: literal-token-3
              headers: {X-Api-Key: header-key-4, Authorization: "Bearer bearer-cred-5", Cookie: "sid=cookie-6",
                        X-Scope-OrgID: tenant-7}
          postgres:
            main: {dsn: "host=db user=monitor password=dsn-pass-8 dbname=app"}
          opensearch:
            logs: {url: "https://search:9200", username: monitor, password: os-pass-9}
        """)
    load(path)
    echoed = ("literal-pass-1 query-key-2 literal-token-3 header-key-4 bearer-cred-5 sid=cookie-6 dsn-pass-8 "
              "os-pass-9 tenant-7 monitor")
    assert redact(echoed) == "*** *** *** *** *** *** *** *** tenant-7 monitor"
    forget_secrets()


def test_a_secret_in_an_invalid_profile_is_not_printed_in_the_error(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n    web: {url: 'https://u:hunter22@h/${BROKEN'}\n")
    with pytest.raises(ProfileError) as err:
        load(path)
    assert "hunter22" not in str(err.value)
    assert "malformed variable reference in 'https://u:***@h/${BROKEN'" in str(err.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("timeouts: {connect: .nan}\n", "timeouts.connect: nan is not a number"),
        ("timeouts: {read: .inf}\n", "timeouts.read: inf is longer than 100 years"),
        ("timeouts: {read: 0}\n", "timeouts.read: 0.0: Input should be greater than 0"),
        ("checks: {test_x: {eventually: {within: 10s, every: 0s}}}\n",
         "checks.test_x.eventually.every: 0.0: Input should be greater than 0"),
        ("targets:\n  http:\n    web: {url: x, thresholds: {error_rate_pct: .nan}}\n",
         "targets.http.web.thresholds.error_rate_pct: nan: Input should be a finite number"),
        ("targets:\n  tls:\n    web: {host: x, thresholds: {expiry_warning_days: .inf}}\n",
         "targets.tls.web.thresholds.expiry_warning_days: inf: Input should be a finite number"),
    ],
)
def test_non_finite_and_zero_durations_and_thresholds_are_refused_with_the_key(tmp_path, body, fragment):
    with pytest.raises(ProfileError, match=re.escape(fragment)):
        load(write(tmp_path, "p.yaml", body))


def test_zero_stays_accepted_where_it_means_none_at_all(tmp_path):
    path = write(tmp_path, "p.yaml", """
        targets:
          postgres:
            main: {dsn: postgresql://db/app, thresholds: {idle_in_transaction: 0, max_idle_in_transaction_sessions: 0}}
        """)
    thresholds = load(path).targets["postgres"]["main"].thresholds
    assert (thresholds.idle_in_transaction, thresholds.max_idle_in_transaction_sessions) == (0.0, 0)


def test_an_extends_chain_is_bounded(tmp_path):
    for i in range(20):
        write(tmp_path, f"p{i}.yaml", f"extends: ./p{i + 1}.yaml\n" if i < 19 else "name: base\n")
    with pytest.raises(ProfileError, match="extends chain longer than 16 files"):
        load(tmp_path / "p0.yaml")


def test_an_oversized_file_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("description: '" + "a" * (1024 * 1024) + "'\n")
    with pytest.raises(ProfileError, match=r"p.yaml: \(top level\): profile is larger than 1 MiB"):
        load(path)


def test_a_profile_of_many_values_is_refused_and_names_the_fix(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n" + "".join(
        f"    t{i}: {{url: 'http://h:{i}'}}\n" for i in range(8000)))
    with pytest.raises(ProfileError, match="holds more than 30,000 values .split its targets across profiles"):
        load(path)


def test_the_largest_benchmark_fleet_still_loads(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n" + "".join(
        f"    t{i}: {{url: 'http://127.0.0.1:{20000 + i}'}}\n" for i in range(3334)))
    assert len(load(path).targets["http"]) == 3334


def test_a_flood_of_problems_is_cut_short_and_says_so(tmp_path):
    path = write(tmp_path, "p.yaml", "targets:\n  http:\n" + "".join(f"    t{i}: {{url: 5}}\n" for i in range(500)))
    with pytest.raises(ProfileError) as err:
        load(path)
    text = str(err.value)
    assert text.startswith("200 problems (and maybe more: validation stops at that many):\n")
    assert text.endswith("\n  ... and 150 more") and len(text.splitlines()) == 52


def test_long_values_with_many_dollars_are_handled_in_linear_time(tmp_path):
    for value in ("$$" * 400_000, "${B}" * 4_000 + "$$" * 8_000, "${A:-" * 4 + "$$" * 100_000):
        path = write(tmp_path, "p.yaml", f"description: '{value}'\n")
        started = time.process_time()
        try:
            load(path, B="b")
        except ProfileError as exc:
            assert "variable" in str(exc)
        assert time.process_time() - started < 1.0
