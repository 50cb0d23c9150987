"""``python -m healthgate report``: turn an Allure results directory into the HTML report people open.

Uses the Allure 2 command line from npm (``allure-commandline``, a Java 17 program). The previous report's
``history/`` is carried into the results first, so trends and per-check history continue run after run.
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

INSTALL_HINT = "npm install allure-commandline  (Allure 2; it runs on Java 17: apt-get install openjdk-17-jre-headless)"


class ReportError(Exception):
    """The report cannot be generated; the message says what to install or pass."""


def find_allure(search_from: tuple[Path, ...] | None = None) -> str:
    """The Allure 2 command: on PATH, else in a ``node_modules/.bin`` of the working directory or the checkout."""
    here = Path(__file__).resolve().parents[1]
    places = search_from if search_from is not None else (Path.cwd(), here)
    candidates = [shutil.which("allure")] + [str(p / "node_modules" / ".bin" / "allure") for p in places]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            _require_allure2(candidate)
            return candidate
    raise ReportError(f"the Allure command line is not installed: {INSTALL_HINT}")


def _require_allure2(command: str) -> None:
    """npm's ``allure`` package (Allure 3) installs a command of the same name with other options."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise ReportError(f"{command} needs a Java runtime (17 or newer): apt-get install openjdk-17-jre-headless")
    try:
        done = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ReportError(f"{command} --version failed: {exc}") from None
    version = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not version.startswith("2."):
        raise ReportError(f"{command} is not Allure 2 (--version said {version or done.stderr.strip()[:200]!r}); "
                          f"install the Allure 2 command line: {INSTALL_HINT}")


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


def generate(results: list[Path], output: Path, *, single_file: bool = False) -> int:
    """One report from one results folder, or from several (the shards of a run), merged first."""
    try:
        if len(results) == 1:
            summary = build(results[0], output, single_file=single_file)
        else:
            with tempfile.TemporaryDirectory(prefix="healthgate-results-") as scratch:
                summary = build(merge_results(results, Path(scratch)), output, single_file=single_file)
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


def build(results: Path, output: Path, *, single_file: bool = False) -> str:
    """Generate the report; return a one-line summary. Raises ReportError with the fix in its message."""
    if not results.is_dir() or not any(results.glob("*-result.json")):
        raise ReportError(f"no Allure results in {results}: run the checks with --alluredir={results} first")
    allure = find_allure()
    carried = carry_history(results, output)
    number_the_build(results)
    started = time.monotonic()
    if single_file:
        # A single-file report has no history/ folder; a normal one made alongside provides it for the next run.
        with tempfile.TemporaryDirectory(prefix="healthgate-report-") as scratch:
            _allure_generate(allure, results, Path(scratch) / "report", single_file=False)
            _allure_generate(allure, results, output, single_file=True)
            shutil.copytree(Path(scratch) / "report" / "history", output / "history")
            shutil.copytree(Path(scratch) / "report" / "widgets", output / "widgets")
    else:
        _allure_generate(allure, results, output, single_file=False)
    elapsed = time.monotonic() - started
    copy_runbooks(results, output, (Path.cwd(), Path(__file__).resolve().parents[1]))
    return (f"report: {output / 'index.html'} ({_totals(output)}; generated in {elapsed:.1f}s"
            f"{', history carried over' if carried else ''}). "
            + ("Open the file directly." if single_file else
               f"Serve it over HTTP, e.g. `python -m http.server -d {output}`, or `allure open {output}`."))


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
            if link.get("name") == "runbook" and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^/", url):
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
        summary = json.loads((output / "widgets" / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "totals unknown"
    stats = summary.get("statistic", {})
    parts = [f"{stats.get(k, 0)} {k}" for k in ("passed", "failed", "broken", "skipped") if stats.get(k)]
    return f"{stats.get('total', 0)} check result(s): {', '.join(parts) or 'none'}"
