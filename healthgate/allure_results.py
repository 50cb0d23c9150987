"""What Allure shows for each check, and the run-level files it reads from the results directory.

Per check (added while its Allure result is still open, from the plugin's makereport hook): phase, kind and target
as the suite tree, severity, tags, the runbook link and the evidence the check recorded. Per run (written by the
controller at session end): environment, executor (CI build) and the categories failures are sorted into.

Everything written passes through ``redact`` and, at the end of the run, the results directory is swept for any
registered secret a library may have let through (a captured log line, an exception message).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from healthgate import __version__
from healthgate.redact import redact

_ALLURE_SEVERITY = {"critical": "critical", "warning": "normal"}
WAIVER_LABEL = "waived_until"
ATTACHMENT_LIMIT = 16 * 1024


# ----------------------------------------------------------------------------------------------- per check

def label(info: Any, record: Any, status: str, message: str, category: str, waiver: Any = None) -> None:
    """Label the open Allure result of the current check. Does nothing without ``--alluredir``."""
    try:
        import allure
    except ImportError:  # pragma: no cover - allure is a dependency, but the engine must not need it
        return
    config, result = _open_result()
    if result is None:
        return
    markexpr = str(getattr(config.option, "markexpr", "") or "") if config is not None else ""
    allure.dynamic.parent_suite(phase_suite(info.phases, markexpr))
    allure.dynamic.suite(info.kind)
    allure.dynamic.sub_suite(info.target.id)
    allure.dynamic.severity(_ALLURE_SEVERITY.get(info.severity, "normal"))
    allure.dynamic.label("target", info.target.id)
    allure.dynamic.feature(info.kind)  # Behaviors tab: one check across all its targets
    allure.dynamic.story(info.check)
    allure.dynamic.tag(info.severity)
    allure.dynamic.tag(info.kind)
    if category:
        allure.dynamic.label("could_not_check", category)
    if waiver is not None:
        # for filtering by the waiver's end; the Waived category itself sorts on the ``category: waived`` line
        allure.dynamic.label(WAIVER_LABEL, waiver.until)
        allure.dynamic.tag("waived")
    allure.dynamic.link(runbook_url(info.runbook), name="runbook")
    _stable_history(result, info)
    for observation in record.observations:
        value = observation.observed
        shown = value if isinstance(value, int | float) else _bounded(redact(str(value)), 200)
        allure.dynamic.parameter(f"observed {observation.subject}", shown, excluded=True)
    _attach_evidence(allure, record)


def _open_result() -> tuple[Any, Any]:
    """The pytest config and the Allure result of the running test, from allure-pytest's listener."""
    import allure_commons

    for plugin in allure_commons.plugin_manager.get_plugins():
        logger = getattr(plugin, "allure_logger", None)
        if logger is not None and hasattr(plugin, "config"):
            return plugin.config, logger.get_test(None)
    return None, None


def _stable_history(result: Any, info: Any) -> None:
    """Allure's history id hashes the test name and its non-excluded parameters. The parametrized target's
    repr carries its address, which changes with the demo stack's random ports or a moved database; a check's
    history must follow the target's name instead."""
    from allure_commons.model2 import Parameter

    for parameter in result.parameters:
        if parameter.name == info.kind:
            parameter.excluded = True
            parameter.value = redact(str(parameter.value))
    if not any(p.name == "target" for p in result.parameters):
        # quoted like allure's other text parameters; bare, the UI would take ``http:web`` for a URL
        result.parameters.insert(0, Parameter(name="target", value=repr(info.target.id)))


def _attach_evidence(allure: Any, record: Any) -> None:
    text = allure.attachment_type.TEXT
    if record.observations:
        lines = [f"{'ok  ' if o.passed else 'FAIL'} {o.render()}" for o in record.observations]
        allure.attach(_bounded(redact("\n".join(lines))), name="observed", attachment_type=text)
    for name, body in record.evidence:
        allure.attach(_bounded(redact(body)), name=name, attachment_type=text)
    if record.warnings:
        allure.attach(_bounded(redact("\n".join(record.warnings))), name="warnings", attachment_type=text)


def _bounded(text: str, limit: int = ATTACHMENT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… cut at {limit} of {len(text)} characters"


def phase_suite(phases: Iterable[str], markexpr: str) -> str:
    """The phase(s) this run checks the check for: the ones the ``-m`` expression names (and does not negate),
    else all the check's phases."""
    phases = list(phases)
    named = {m.group(2) for m in re.finditer(r"(\bnot\s+)?\b(\w+)\b", markexpr) if not m.group(1)}
    chosen = [p for p in phases if p in named]
    return ", ".join(chosen or phases)


def runbook_url(link: str, environ: dict[str, str] | None = None) -> str:
    """A runbook link that opens from the report. In CI a relative ``docs/runbooks/...`` path becomes the page in
    the repository browser at the checked-out commit; elsewhere it stays relative to the report, which
    ``python -m healthgate report`` makes true by copying the pages next to ``index.html``."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link) or link.startswith("/"):
        return link
    env = os.environ if environ is None else environ
    if env.get("GITHUB_SERVER_URL") and env.get("GITHUB_REPOSITORY") and env.get("GITHUB_SHA"):
        return f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/blob/{env['GITHUB_SHA']}/{link}"
    if env.get("CI_PROJECT_URL") and env.get("CI_COMMIT_SHA"):
        return f"{env['CI_PROJECT_URL']}/-/blob/{env['CI_COMMIT_SHA']}/{link}"
    return link


# ----------------------------------------------------------------------------------------------- per run

# Why a broken check could not look, as its client's error class says it (``CheckError.category``, written by the
# plugin as a ``category:`` line of the report), grouped the way the report shows them.
CATEGORY_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Could not check: unreachable or timed out": (
        "Connecting or reading failed; the target's other checks failed at once with the same reason.",
        ("unreachable",)),
    "Could not check: credentials refused or privilege missing": (
        "The monitoring account is wrong, expired or lacks a grant; the message names it.",
        ("auth", "permission")),
    "Could not check: unexpected answer": (
        "The target answered, but not with what its API promises (non-JSON, wrong shape, cut off).",
        ("bad response", "could not check", "baseline file")),
    "Configuration error": (
        "The profile, a fixture or the check itself is wrong: fix the suite, not the target.",
        ("configuration error", "missing path")),
}


WAIVED_CATEGORY = "Waived"


def _trace_category(names: tuple[str, ...]) -> str:
    # Allure 2 matches traceRegex against the WHOLE trace, hence the leading and trailing ``.*``.
    return r"(?sm).*^  category: (" + "|".join(re.escape(n) for n in names) + r")$.*"


CATEGORIES: list[dict[str, Any]] = [
    # First: a waived check failed or could not look, but a waiver of the profile lets it through until its date.
    {
        "name": WAIVED_CATEGORY,
        "description": "Known failures a waiver of the profile lets through until its date; the check's page "
                       "says why and who approved it. They do not block the gate.",
        "matchedStatuses": ["skipped", "failed", "broken"],
        "traceRegex": _trace_category(("waived",)),
    },
    {
        "name": "Target unhealthy",
        "description": "The check looked and the target is not in the expected state: follow the runbook link.",
        "matchedStatuses": ["failed"],
    },
    *({"name": name, "description": description, "matchedStatuses": ["broken"],
       "traceRegex": _trace_category(names)} for name, (description, names) in CATEGORY_GROUPS.items()),
]


# The ``category:`` values each category sorts on, for the report generators that take categories as configuration.
_CATEGORY_LINES: dict[str, tuple[str, ...]] = {
    WAIVED_CATEGORY: ("waived",), **{name: names for name, (_, names) in CATEGORY_GROUPS.items()}}


def allure3_categories() -> list[dict[str, Any]]:
    """The same categories, in the same order, as Allure 3 takes them (``categories`` of its configuration; it
    ignores categories.json). Its matchers search the trace with a JavaScript regular expression, which has no
    inline ``(?sm)`` flags: the ``category:`` line is found between line breaks instead."""
    rules: list[dict[str, Any]] = []
    for category in CATEGORIES:
        matcher: dict[str, Any] = {"statuses": category["matchedStatuses"]}
        names = _CATEGORY_LINES.get(category["name"])
        if names:
            matcher["trace"] = r"(?:^|\n)  category: (?:" + "|".join(re.escape(n) for n in names) + r")(?:\n|$)"
        rules.append({"name": category["name"], "matchers": matcher})
    return rules


def write_run_files(results_dir: Path, *, profile: str, markexpr: str, rootdir: Path,
                    environ: dict[str, str] | None = None) -> None:
    """environment.properties, executor.json and categories.json: the run-level context of the report."""
    env = dict(os.environ if environ is None else environ)
    results_dir.mkdir(parents=True, exist_ok=True)
    properties = {
        "profile": profile,
        "phase": markexpr or "(all phases)",
        "healthgate.version": __version__,
        "git.commit": git_commit(rootdir, env) or "unknown",
        "hostname": socket.gethostname(),
    }
    _write(results_dir / "environment.properties",
           "".join(f"{_prop_key(k)}={_prop_value(redact(v))}\n" for k, v in properties.items()))
    executor = executor_info(env)
    if executor is not None:
        _write(results_dir / "executor.json", json.dumps(executor, indent=2) + "\n")
    _write(results_dir / "categories.json", json.dumps(CATEGORIES, indent=2) + "\n")


def executor_info(env: dict[str, str]) -> dict[str, Any] | None:
    """Who ran the checks, from the CI's variables. ``buildOrder`` orders the report's trend columns."""
    if env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        repo = env.get("GITHUB_REPOSITORY", "")
        run_url = f"{server}/{repo}/actions/runs/{env['GITHUB_RUN_ID']}"
        attempt = env.get("GITHUB_RUN_ATTEMPT")
        return _executor(
            name="GitHub Actions", type="github", url=f"{server}/{repo}",
            buildOrder=_number(env.get("GITHUB_RUN_NUMBER")) or _number(env["GITHUB_RUN_ID"]),
            buildName=f"{env.get('GITHUB_WORKFLOW', 'workflow')} #{env.get('GITHUB_RUN_NUMBER', env['GITHUB_RUN_ID'])}"
                      + (f" ({env.get('GITHUB_JOB')})" if env.get("GITHUB_JOB") else ""),
            buildUrl=f"{run_url}/attempts/{attempt}" if attempt else run_url,
            reportUrl=env.get("HEALTHGATE_REPORT_URL"),
        )
    if env.get("CI_PIPELINE_ID"):
        return _executor(
            name="GitLab CI", type="gitlab", url=env.get("CI_PROJECT_URL") or env.get("CI_SERVER_URL"),
            buildOrder=_number(env["CI_PIPELINE_ID"]),
            buildName=f"{env.get('CI_PROJECT_PATH', 'pipeline')} #{env.get('CI_PIPELINE_IID', env['CI_PIPELINE_ID'])}"
                      + (f" {env['CI_JOB_NAME']}" if env.get("CI_JOB_NAME") else ""),
            buildUrl=env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"),
            reportUrl=env.get("HEALTHGATE_REPORT_URL"),
        )
    if env.get("BUILD_NUMBER"):
        jenkins = bool(env.get("JENKINS_URL"))
        return _executor(
            name="Jenkins" if jenkins else "CI", type="jenkins" if jenkins else "ci",
            url=env.get("JENKINS_URL") or env.get("BUILD_URL"),
            buildOrder=_number(env["BUILD_NUMBER"]),
            buildName=f"{env.get('JOB_NAME', 'build')} #{env['BUILD_NUMBER']}",
            buildUrl=env.get("BUILD_URL"),
            reportUrl=env.get("HEALTHGATE_REPORT_URL"),
        )
    return None


def _executor(**fields: Any) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in fields.items() if v not in (None, "")}


def _number(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def git_commit(rootdir: Path, env: dict[str, str]) -> str | None:
    for name in ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT"):
        if env.get(name):
            return env[name]
    try:
        done = subprocess.run(["git", "-C", str(rootdir), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    if done.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(["git", "-C", str(rootdir), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def _prop_key(key: str) -> str:
    return re.sub(r"([ :=#!\\])", r"\\\1", key)


def _prop_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------- sweep

def sweep_secrets(results_dir: Path, since: float, *, max_bytes: int = 32 * 1024 * 1024) -> int:
    """Redact every text file this run wrote into the results directory; return how many were changed.

    Our own labels and attachments are redacted when made; this catches what allure-pytest adds itself
    (captured output and logs, exception messages of libraries)."""
    changed = 0
    if not results_dir.is_dir():
        return 0
    for path in results_dir.iterdir():
        try:
            stat = path.stat()
        except OSError:
            continue
        if not path.is_file() or stat.st_mtime < since - 2 or stat.st_size > max_bytes or path.suffix == ".tmp":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary attachments (screenshots) are not ours to rewrite
        cleaned = _redact_json(text) if path.suffix == ".json" else redact(text)
        if cleaned != text:
            _write(path, cleaned)
            changed += 1
    return changed


def _redact_json(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return redact(text)
    cleaned = _redact_tree(data)
    return text if cleaned == data else json.dumps(cleaned, ensure_ascii=False)


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redact_tree(v) for v in value]
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    return value


def results_dir_of(config: Any) -> Path | None:
    value = getattr(config.option, "allure_report_dir", None)
    return Path(value).resolve() if value else None


def finish_run(config: Any, state: Any) -> None:
    """Controller-side end of run: run files, then the sweep (workers have written all their results by now)."""
    results_dir = results_dir_of(config)
    if results_dir is None or config.option.collectonly:
        return
    write_run_files(results_dir, profile=state.profile.name if state.profile else "-",
                    markexpr=str(config.option.markexpr or ""), rootdir=Path(config.rootpath))
    sweep_secrets(results_dir, state.started)

