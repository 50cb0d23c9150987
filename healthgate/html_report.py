"""``python -m healthgate report``: turn an Allure results directory into the HTML report people open.

Two generators read the same results. Allure 3 (npm ``allure`` 3.x, Node only) is the default: a report host needs
no Java. Allure 2 (npm ``allure-commandline``, a Java 17 program) stays selectable with ``--generator allure2``.
Either way the report keeps its history: Allure 3 in ``REPORT/history/history.jsonl``, Allure 2 in
``REPORT/history/``, carried into the next generation, so trends and per-check history continue run after run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

INSTALL_HINT = "npm install allure-commandline  (Allure 2; it runs on Java 17: apt-get install openjdk-17-jre-headless)"
ALLURE3_VERSION = "3.18.0"
ALLURE3_HINT = f"npm install allure@{ALLURE3_VERSION}  (Allure 3, Node only; or pass --generator allure2)"
GENERATORS = ("allure3", "allure2")
DEFAULT_GENERATOR = "allure3"
# The report tree as Allure 2 shows it (Suites): phase, kind, target; Allure 3 groups by package unless told.
TREE_LABELS = ["parentSuite", "suite", "subSuite"]
ALLURE3_HISTORY = Path("history") / "history.jsonl"
REPORT_URL_ENV = "HEALTHGATE_REPORT_URL"  # where reports are served; also the executor's reportUrl in CI
# Allure 3's report page loads Google's tag manager, and unlike Allure 2 it has no switch to stop it: a health
# report opened inside a company network must not call out to a tracker, so the tag is cut from the page.
_TRACKER = re.compile(r'\s*<script async src="https://www\.googletagmanager\.com/[^"]*"></script>\s*'
                      r"<script>\s*window\.dataLayer.*?</script>", re.S)


class ReportError(Exception):
    """The report cannot be generated; the message says what to install or pass."""


def _places(search_from: tuple[Path, ...] | None) -> tuple[Path, ...]:
    return search_from if search_from is not None else (Path.cwd(), Path(__file__).resolve().parents[1])


def find_allure(search_from: tuple[Path, ...] | None = None) -> str:
    """The Allure 2 command: in a ``node_modules`` of the working directory or the checkout (by its package's own
    path: with both Allure packages installed, ``.bin/allure`` is whichever was linked last), else on PATH."""
    candidates: list[tuple[str, str]] = []
    for place in _places(search_from):
        package = place / "node_modules" / "allure-commandline"
        candidates.append((str(package / "bin" / "allure"), _package_version(package)))
    on_path = shutil.which("allure")
    if on_path:
        candidates.append((on_path, ""))
    for command, version in candidates:
        if os.access(command, os.X_OK) and (version or _version(command)).startswith("2."):
            _require_java(command)
            return command
    raise ReportError(f"the Allure 2 command line is not installed: {INSTALL_HINT}")


def find_allure3(search_from: tuple[Path, ...] | None = None) -> list[str]:
    """The Allure 3 command: its package in a ``node_modules`` of the working directory or the checkout, run with
    the machine's node, else an ``allure`` on PATH that says it is 3.x."""
    node = shutil.which("node")
    if node is None:
        raise ReportError(f"Allure 3 needs Node.js (apt-get install nodejs npm), then {ALLURE3_HINT}")
    for place in _places(search_from):
        package = place / "node_modules" / "allure"
        if (package / "cli.js").is_file() and _package_version(package).startswith("3."):
            return [node, str(package / "cli.js")]
    on_path = shutil.which("allure")
    if on_path and _version(on_path).startswith("3."):
        return [on_path]
    raise ReportError(f"Allure 3 is not installed: {ALLURE3_HINT}")


def _package_version(package: Path) -> str:
    """The version npm installed, from its package.json: starting the command to ask costs seconds."""
    try:
        return str(json.loads((package / "package.json").read_text(encoding="utf-8")).get("version", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def _version(*command: str) -> str:
    try:
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120, check=False,
                              env=dict(os.environ, ALLURE_NO_ANALYTICS="true"))
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.strip().splitlines()
    return lines[-1].strip() if done.returncode == 0 and lines else ""


def _require_java(command: str) -> None:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ReportError(f"{command} needs a Java runtime (17 or newer): apt-get install openjdk-17-jre-headless; "
                          "or use the default generator, Allure 3, which needs only Node")


def carry_history(results: Path, report: Path) -> bool:
    """Copy the previous report's history into the results so the new report extends it."""
    previous = report / "history"
    if not previous.is_dir():
        return False
    target = results / "history"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(previous, target)
    return True


def number_the_build(results: Path) -> None:
    """A run outside CI has no build number; continue the trend's numbering so its columns stay in order."""
    executor_path = results / "executor.json"
    executor: dict[str, Any] = {}
    if executor_path.is_file():
        try:
            executor = json.loads(executor_path.read_text(encoding="utf-8"))
        except ValueError:
            executor = {}
        if isinstance(executor.get("buildOrder"), int):
            return
    previous = 0
    trend = results / "history" / "history-trend.json"
    if trend.is_file():
        try:
            previous = max((int(e.get("buildOrder") or 0) for e in json.loads(trend.read_text(encoding="utf-8"))),
                           default=0)
        except (ValueError, TypeError, AttributeError):
            previous = 0
    order = previous + 1
    executor = {"name": "healthgate", "type": "local", "buildName": f"run #{order}"} | executor
    executor["buildOrder"] = order
    executor_path.write_text(json.dumps(executor, indent=2) + "\n", encoding="utf-8")


def generate(results: list[Path], output: Path, *, single_file: bool = False,
             generator: str = DEFAULT_GENERATOR, report_url: str | None = None) -> int:
    """One report from one results folder, or from several (the shards of a run), merged first."""
    try:
        if len(results) == 1:
            summary = build(results[0], output, single_file=single_file, generator=generator,
                            report_url=report_url)
        else:
            with tempfile.TemporaryDirectory(prefix="healthgate-results-") as scratch:
                summary = build(merge_results(results, Path(scratch)), output, single_file=single_file,
                                generator=generator, report_url=report_url)
    except ReportError as exc:
        print(f"healthgate report: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def merge_results(folders: list[Path], into: Path) -> Path:
    """The shards' results in one folder: result and attachment files have unique names; the run files
    (environment, executor, categories) and the history come from the first folder that has them."""
    for folder in folders:
        if not folder.is_dir() or not any(folder.glob("*-result.json")):
            raise ReportError(f"no Allure results in {folder}: run the checks with --alluredir={folder} first")
        for path in folder.iterdir():
            destination = into / path.name
            if path.is_dir():
                if not destination.exists():
                    shutil.copytree(path, destination)
            elif not destination.exists():
                shutil.copyfile(path, destination)
    return into


def build(results: Path, output: Path, *, single_file: bool = False, generator: str = DEFAULT_GENERATOR,
          report_url: str | None = None) -> str:
    """Generate the report; return a one-line summary. Raises ReportError with the fix in its message."""
    if generator not in GENERATORS:
        raise ReportError(f"unknown generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}: run the checks with --alluredir={results} first")
    report_url = report_url if report_url is not None else os.environ.get(REPORT_URL_ENV) or None
    started = time.monotonic()
    if generator == "allure3":
        carried = _build_allure3(results, output, single_file=single_file, report_url=report_url)
    else:
        carried = _build_allure2(results, output, single_file=single_file)
    elapsed = time.monotonic() - started
    copy_runbooks(results, output, (Path.cwd(), Path(__file__).resolve().parents[1]))
    name = "Allure 3" if generator == "allure3" else "Allure 2"
    serve = f"`python -m http.server -d {output}`" + ("" if generator == "allure3" else f", or `allure open {output}`")
    note = ""
    if generator == "allure3" and not report_url and _relative_runbook_links(results):
        note = (" Runbook links are relative to the report, which Allure 3 shows as text: pass --report-url with "
                "the address the report is served at to make them links (the sections are attached either way).")
    return (f"report: {output / 'index.html'} ({_totals(output)}; {name}, generated in {elapsed:.1f}s"
            f"{', history carried over' if carried else ''}). "
            + ("Open the file directly." if single_file else f"Serve it over HTTP, e.g. {serve}.") + note)


def _build_allure2(results: Path, output: Path, *, single_file: bool) -> bool:
    allure = find_allure()
    carried = carry_history(results, output)
    number_the_build(results)
    if single_file:
        # A single-file report has no history/ folder; a normal one made alongside provides it for the next run.
        with tempfile.TemporaryDirectory(prefix="healthgate-report-") as scratch:
            _allure_generate(allure, results, Path(scratch) / "report", single_file=False)
            _allure_generate(allure, results, output, single_file=True)
            shutil.copytree(Path(scratch) / "report" / "history", output / "history")
            shutil.copytree(Path(scratch) / "report" / "widgets", output / "widgets")
    else:
        _allure_generate(allure, results, output, single_file=False)
    return carried


def _build_allure3(results: Path, output: Path, *, single_file: bool, report_url: str | None) -> bool:
    """Allure 3 keeps its history in one JSON-lines file; it lives in the report, like Allure 2's history/, so
    archiving the report keeps it, and it is read back from the previous report before that is replaced."""
    command = find_allure3()
    results, output = results.resolve(), output.resolve()  # Allure 3 runs in a scratch folder
    number_the_build(results)
    with tempfile.TemporaryDirectory(prefix="healthgate-report-") as scratch:
        if report_url:
            results = _with_absolute_runbook_links(results, report_url, Path(scratch) / "results")
        history = Path(scratch) / "history.jsonl"
        previous = output / ALLURE3_HISTORY
        carried = previous.is_file()
        if carried:
            shutil.copyfile(previous, history)
        _clear_previous_report(output)
        config = Path(scratch) / "allurerc.json"
        config.write_text(json.dumps(allure3_config(results, output, history, single_file=single_file), indent=2),
                          encoding="utf-8")
        done = subprocess.run([*command, "generate", str(results), "--config", str(config), "--output", str(output)],
                              capture_output=True, text=True, timeout=600, check=False, cwd=scratch,
                              env=dict(os.environ, ALLURE_NO_ANALYTICS="true"))
        if done.returncode != 0 or not (output / "index.html").is_file():
            raise ReportError(f"Allure 3 failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
        (output / ALLURE3_HISTORY).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(history, output / ALLURE3_HISTORY)
    _cut_tracker(output / "index.html")
    return carried


def allure3_config(results: Path, output: Path, history: Path, *, single_file: bool) -> dict[str, Any]:
    """Allure 3's configuration: the tree by phase, kind and target (Allure 2's Suites), the same categories as
    categories.json (Waived first), the history file, and the report's name after the run's profile."""
    from healthgate.allure_results import allure3_categories

    profile = _environment(results).get("profile")
    name = f"healthgate — profile {profile}" if profile else "healthgate"
    return {
        "name": name,
        "output": str(output),
        "historyPath": str(history),
        "categories": {"rules": allure3_categories()},
        "plugins": {"awesome": {"options": {"reportName": name, "singleFile": single_file,
                                            "groupBy": TREE_LABELS}}},
    }


def _environment(results: Path) -> dict[str, str]:
    try:
        lines = (results / "environment.properties").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.replace("\\", "").strip(): value.strip() for key, value in pairs}


def _relative_runbook_links(results: Path) -> list[str]:
    found = []
    for path in results.glob("*-result.json"):
        try:
            links = json.loads(path.read_text(encoding="utf-8")).get("links", [])
        except (OSError, ValueError, AttributeError):
            continue
        found += [str(link.get("url", "")) for link in links
                  if link.get("name") == "runbook" and _relative(str(link.get("url", "")))]
    return found


def _relative(url: str) -> bool:
    """A link without a scheme or a leading slash: relative to wherever the report is opened."""
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^/", url)


def _with_absolute_runbook_links(results: Path, report_url: str, into: Path) -> Path:
    """A view of the results whose relative runbook links point under the address the report is served at:
    Allure 3 makes a link of an http(s) URL only, and copy_runbooks puts the pages next to the report. The results
    are copied to a scratch folder (Allure 3 does not follow symbolic links: attachments would go missing)."""
    base = report_url if report_url.endswith("/") else report_url + "/"
    into.mkdir()
    for path in results.iterdir():
        if path.is_dir():
            shutil.copytree(path, into / path.name)
            continue
        if not path.name.endswith("-result.json"):
            shutil.copyfile(path, into / path.name)
            continue
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError:
            (into / path.name).write_text(text, encoding="utf-8")
            continue
        for link in data.get("links", []) if isinstance(data, dict) else []:
            url = str(link.get("url", ""))
            if link.get("name") == "runbook" and _relative(url):
                link["url"] = urljoin(base, url)
        (into / path.name).write_text(json.dumps(data), encoding="utf-8")
    return into


def _clear_previous_report(output: Path) -> None:
    """Allure 3 writes into the output folder without emptying it; a previous report's files would linger. Only a
    folder that holds a report (or nothing) is emptied: a mistyped -o must not delete someone's directory."""
    if not output.exists():
        return
    if not output.is_dir() or (any(output.iterdir()) and not (output / "index.html").is_file()):
        raise ReportError(f"{output} exists and is not a report: pass -o with a new folder or a previous report's")
    shutil.rmtree(output)


def _cut_tracker(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    cleaned = _TRACKER.sub("\n", html)
    if "googletagmanager" in cleaned:  # the markup changed: refuse rather than ship a page that calls out
        raise ReportError(f"{page} loads a tracker healthgate could not remove (Allure 3's page changed): "
                          "use --generator allure2, or pin allure@" + ALLURE3_VERSION)
    if cleaned != html:
        page.write_text(cleaned, encoding="utf-8")


def copy_runbooks(results: Path, output: Path, roots: tuple[Path, ...]) -> int:
    """Runbook links without a scheme (runs outside CI) are relative to the report: put the pages there."""
    wanted: set[str] = set()
    for path in results.glob("*-result.json"):
        try:
            links = json.loads(path.read_text(encoding="utf-8")).get("links", [])
        except (OSError, ValueError):
            continue
        for link in links:
            url = str(link.get("url", ""))
            if link.get("name") == "runbook" and _relative(url):
                wanted.add(url.partition("#")[0])
    copied = 0
    for relative in sorted(wanted):
        if not relative or ".." in Path(relative).parts:
            continue
        source = next((root / relative for root in roots if (root / relative).is_file()), None)
        if source is not None:
            (output / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, output / relative)
            copied += 1
    return copied


def _allure_generate(allure: str, results: Path, output: Path, *, single_file: bool) -> None:
    command = [allure, "generate", str(results), "-o", str(output), "--clean"]
    if single_file:
        command.append("--single-file")
    env = dict(os.environ, ALLURE_NO_ANALYTICS="true")  # a health report must not call out to a tracker
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:
        raise ReportError(f"{' '.join(command)} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


def _totals(output: Path) -> str:
    try:
        if (output / "summary.json").is_file():  # Allure 3
            stats = json.loads((output / "summary.json").read_text(encoding="utf-8")).get("stats", {})
        else:
            stats = json.loads((output / "widgets" / "summary.json").read_text(encoding="utf-8")).get("statistic", {})
    except (OSError, ValueError, AttributeError):
        return "totals unknown"
    parts = [f"{stats.get(k, 0)} {k}" for k in ("passed", "failed", "broken", "skipped") if stats.get(k)]
    return f"{stats.get('total', 0)} check result(s): {', '.join(parts) or 'none'}"
