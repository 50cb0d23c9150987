"""``python -m bench.profile_fuzz``: the profile loader fed hostile input, in process.

    python -m bench.profile_fuzz --count 10000            # every input: outcome, time and memory (~15 min)
    python -m bench.profile_fuzz --count 10000 --no-memory  # time only (~2 min)

Inputs come from seven families, in turn: the shipped profiles mutated as text and as data, random YAML, alias
bombs, deep nesting, ``${VAR}`` edge cases, and the reproducer corpus kept under ``tests/unit/profile_corpus``.
Each must load or raise ``ProfileError`` naming a file; anything else is a crash, written to ``--crashes`` so it
can join the corpus. Per input, the wall and CPU time and (unless ``--no-memory``) the peak of Python allocations
(tracemalloc, measured in a second pass so that it does not slow the timed one) are recorded; the report gives
counts, crashes, and the slowest and hungriest inputs. The exit status is 1 on a crash or an input over the budget
(1 s of CPU, 128 MiB traced): CPU rather than wall time, because the host may be busy with other work.
``tests/unit/test_profile_fuzz.py`` runs a bounded number of the same inputs with a budget per input.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from healthgate.errors import ProfileError
from healthgate.profile import load_profile
from healthgate.redact import forget_secrets
from healthgate.targets import available_kinds, settings_model

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "profiles"
CORPUS = ROOT / "tests" / "unit" / "profile_corpus"
FAMILIES = ("text", "data", "random", "bomb", "deep", "variables", "corpus")
TIME_BUDGET_S = 1.0
MEMORY_BUDGET_MB = 128.0

KEYS = ["name", "description", "targets", "checks", "timeouts", "extends", "provision", "runbook_base",
        "data_safety", "url", "dsn", "token", "password", "headers", "X-Api-Key", "thresholds", "health",
        "preset", "severity", "phases", "enabled", "eventually", "within", "every", "connect", "read", "tags",
        "max_body", "latency_p95", "connections_used_pct", "baseline", "restore_drill", "rpo", "<<",
        "http", "postgres", "redis", "opensearch", "prometheus", "alertmanager", "disk", "backups", "tls", "gpu",
        "main", "web"]
HOSTILE_SCALARS: list[Any] = [
    math.nan, math.inf, -math.inf, -1, 0, 0.0, 1.5, 2**63, 10**309, -(10**40), True, None, "", " ", "x" * 2000,
    "5 s", "10MB", "1w", "${UNSET}", "${A:-${B}}", "${A:-${UNSET}}", "$${", "${", "}", "$$", "http://u:p@h/",
    "postgresql://u:hunter22@db/x", "host=db password=x", "2024-02-30", "critical", "daily", "grafana", "\x00",
    "\ufeff", "<<", "=", "~", "null", ".nan", "0x" + "f" * 40, "1" * 400, [], {}, ["a"], {"a": 1}, [[[]]],
]
TOKENS = ["&a ", "*a", "<<: *a", "<<: ", "!!int ", "!!timestamp ", "!!map ", "!!set ", "!!binary ", "!!float ",
          "!secret ", "? ", "- ", "[", "]", "{", "}", ": ", ",", "${", "$$", "${A:-", "}", "\\0", '"', "'", "\t",
          "\x00", "\ufeff", "---\n", "...\n", "%YAML 1.1\n", "!<tag:yaml.org,2002:str> ", "|\n", ">-\n", "#",
          "9" * 400, "a" * 5000, "[" * 300, "{a: " * 200, "${a:-" * 300, ".nan", ".inf", "-.inf", "2024-02-30",
          "1e309", "0b" + "1" * 100, "\n  ", "\n    ", "\r\n", "\u2028", "\x85", "&b [*b]"]
VARIABLE_PARTS = ["$", "$$", "${", "}", ":-", "A", "B", "UNSET", "a", "-", ":", "{", "${A:-", "${B}", "${UNSET}",
                  "_", "1", "${A}", "${B:-x}", "http://u:", "@h", "://", "x"]


# libyaml's, when there: generating an input must cost less than loading it
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Case:
    family: str
    label: str
    text: bytes


def _environ() -> dict[str, str]:
    """Every variable the shipped profiles read, set to a value of the right shape, plus A (empty) and B."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", "".join(p.read_text() for p in PROFILES.glob("*.y*ml"))))
    environ = {"A": "", "B": "b-value", "HOME": "/root"}
    for name in names:
        if name.endswith(("_DSN", "_URI")):
            environ[name] = "postgresql://monitor:fuzz-password@db.invalid:5432/app"
        elif name.endswith("_URL"):
            environ[name] = "redis://svc.invalid:6379/0" if "REDIS" in name else "http://svc.invalid:8080"
        elif name.endswith("_DIR"):
            environ[name] = "/nonexistent/fuzz"
        elif name.endswith("_VERSION"):
            environ[name] = "15"
        else:
            environ[name] = "svc.invalid"
    return environ


ENVIRON = _environ()


# --------------------------------------------------------------------------------------------- families

def _shipped() -> list[tuple[str, str]]:
    return [(p.name, p.read_text()) for p in sorted(PROFILES.glob("*.yaml"))]


def text_mutation(rng: random.Random) -> Case:
    """A shipped profile with a few lines dropped, doubled, swapped, re-indented or cut, or hostile tokens put in."""
    name, text = rng.choice(_shipped())
    lines = text.splitlines()
    ops = []
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["drop", "dup", "swap", "indent", "truncate", "token", "token", "token", "bytes"])
        i = rng.randrange(len(lines)) if lines else 0
        if not lines:
            lines = [""]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            lines[i] = rng.choice(["  ", " ", "\t", "    "]) + lines[i]
        elif op == "truncate":
            lines = lines[:i]
        elif op == "token":
            line = lines[i]
            pos = rng.randrange(len(line) + 1)
            lines[i] = line[:pos] + rng.choice(TOKENS) + line[pos:]
        else:
            line = lines[i]
            pos = rng.randrange(len(line) + 1)
            lines[i] = line[:pos] + "".join(chr(rng.randrange(0, 0x300)) for _ in range(rng.randint(1, 3))) + \
                line[pos:]
        ops.append(op)
    return Case("text", f"{name} {'+'.join(ops)}", ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


def _containers(value: Any, seen: set[int] | None = None) -> Iterator[Any]:
    """Every dict and list in ``value``, once each (a shared one may contain itself)."""
    seen = set() if seen is None else seen
    if isinstance(value, dict | list) and id(value) not in seen:
        seen.add(id(value))
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item, seen)


def data_mutation(rng: random.Random) -> Case:
    """A shipped profile read as data, changed where a user could change it (a value replaced by a hostile one, a
    key removed, renamed or added, a part repeated elsewhere by reference, which YAML writes as an alias), and
    written back as YAML."""
    name, text = rng.choice(_shipped())
    data = yaml.load(text, Loader=_LOADER)
    ops = []
    for _ in range(rng.randint(1, 5)):
        containers = list(_containers(data))
        container = rng.choice(containers)
        keys = list(container) if isinstance(container, dict) else list(range(len(container)))
        op = rng.choice(["replace", "replace", "replace", "delete", "rename", "add", "share", "wrap"])
        if not keys:
            op = "add"
        key = rng.choice(keys) if keys else None
        if op == "replace":
            container[key] = rng.choice(HOSTILE_SCALARS)
        elif op == "delete":
            del container[key]
        elif op == "rename" and isinstance(container, dict):
            value = container.pop(key)
            container[str(key)[:-1] + rng.choice("sx_ ") if str(key) else "x"] = value
        elif op == "add":
            new_key = rng.choice(KEYS)
            if isinstance(container, dict):
                container[new_key] = rng.choice(HOSTILE_SCALARS)
            else:
                container.append(rng.choice(HOSTILE_SCALARS))
        elif op == "share":
            other = rng.choice(containers)
            container[key] = other  # the same object twice: safe_dump writes an anchor and an alias
        elif op == "wrap":
            container[key] = rng.choice([[container[key]], {"x": container[key]}])
        ops.append(op)
    try:
        dumped = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False,
                                default_flow_style=rng.choice([False, None]))
    except (yaml.YAMLError, RecursionError, ValueError):  # a container shared into itself cannot be written
        dumped = text
    return Case("data", f"{name} {'+'.join(ops)}", dumped.encode("utf-8", "surrogatepass"))


def _random_value(rng: random.Random, depth: int) -> Any:
    if depth > 4 or rng.random() < 0.4:
        return rng.choice([*HOSTILE_SCALARS[:-5], "ok", "5s", "10MiB", 3, "http://h", "warning"])
    if rng.random() < 0.5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice([*KEYS, "", "x", 1, None]): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def random_yaml(rng: random.Random) -> Case:
    """A random document over the profile's own vocabulary of keys, in block or flow style."""
    data = _random_value(rng, 0)
    if rng.random() < 0.7:
        data = {"targets": {rng.choice(KEYS[-12:-2]): {"main": data}}} if rng.random() < 0.5 else {
            rng.choice(KEYS): data}
    text = yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, default_flow_style=rng.choice([False, True, None]))
    return Case("random", "random", text.encode("utf-8", "surrogatepass"))


def alias_bomb(rng: random.Random) -> Case:
    """Each level repeats the previous one ``width`` times: lists, mappings or merge keys; sometimes in a target."""
    width, levels = rng.randint(2, 12), rng.randint(2, 9)
    style = rng.choice(["list", "map", "merge"])
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    for i in range(1, levels + 1):
        if style == "list":
            lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
        elif style == "map":
            lines.append(f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width)) + "}")
        else:
            lines.append(f"a{i}: &a{i} {{<<: {{k: *a{i - 1}}}, " + ", ".join(f"k{j}: *a{i - 1}" for j in
                                                                           range(width)) + "}")
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.5:  # the same bomb where a profile would hold it: in a target's settings
        text = "targets:\n  http:\n    web:\n      url: http://h\n      tags:\n" + "".join(
            f"        - {line.split(': ', 1)[1]}\n" for line in lines)
    return Case("bomb", f"{style} width {width} levels {levels}", text.encode())


def deep_nesting(rng: random.Random) -> Case:
    depth = rng.choice([10, 50, 63, 64, 65, 100, 1000, 10_000, 100_000, 300_000])
    style = rng.choice(["flow-list", "flow-map", "block", "unclosed", "mixed"])
    if style == "flow-list":
        text = "a: " + "[" * depth + "]" * depth
    elif style == "flow-map":
        text = "a: " + "{a: " * depth + "1" + "}" * depth
    elif style == "block":
        depth = min(depth, 2000)  # block nesting costs two spaces per level: 2,000 levels is 4 MB already
        text = "".join("  " * i + f"k{i}:\n" for i in range(depth))
    elif style == "unclosed":
        text = "a: " + rng.choice(["[", "{a: ", "[{a: "]) * depth
    else:
        text = "targets:\n  http:\n    web:\n      url: http://h\n      health: " + "[{a: " * depth + "1" + \
            "}]" * depth
    return Case("deep", f"{style} {depth}", (text + "\n").encode())


def variables(rng: random.Random) -> Case:
    """``${VAR}`` edge cases in the fields that read them: nested defaults, unclosed braces, long repetitions."""
    parts = [rng.choice(VARIABLE_PARTS) for _ in range(rng.randint(1, 12))]
    value = "".join(parts)
    if rng.random() < 0.2:
        value = value * rng.choice([100, 10_000])
    field = rng.choice(["url", "token", "description", "headers"])
    quoted = json.dumps(value)  # a YAML double-quoted string
    if field == "headers":
        body = f"      url: http://h\n      headers: {{X-Api-Key: {quoted}}}\n"
    elif field == "description":
        body = f"      url: http://h\n      description: {quoted}\n"
    else:
        body = f"      url: {quoted}\n" if field == "url" else f"      url: http://h\n      token: {quoted}\n"
    return Case("variables", field, f"targets:\n  http:\n    web:\n{body}".encode())


def corpus(rng: random.Random) -> Case:
    path = rng.choice(sorted(CORPUS.glob("*.yaml")))
    return Case("corpus", path.name, path.read_bytes())


GENERATORS: dict[str, Callable[[random.Random], Case]] = {
    "text": text_mutation, "data": data_mutation, "random": random_yaml, "bomb": alias_bomb,
    "deep": deep_nesting, "variables": variables, "corpus": corpus,
}


def cases(count: int, seed: int = 20261125) -> Iterator[Case]:
    """``count`` inputs, the families in turn, the same ones for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        yield GENERATORS[FAMILIES[i % len(FAMILIES)]](rng)


# --------------------------------------------------------------------------------------------- running

@dataclass
class Outcome:
    family: str
    label: str
    size: int
    result: str  # "loaded", "refused", or "crash: <exception>"
    seconds: float  # wall time
    cpu_seconds: float  # this process's CPU time: what the input costs, whatever else the host is running
    peak_mb: float = 0.0


def load(path: Path) -> str:
    """Load one profile file in this process; the verdict as text. A ``ProfileError`` must name a file that
    took part (the profile itself or one it extends), and no settings validator may have failed (that message
    is the loader's last resort for a validator bug)."""
    try:
        load_profile(path, environ=ENVIRON)
    except ProfileError as exc:
        for error in getattr(exc, "errors", [exc]):
            text = str(error)
            if not text.startswith((str(path), str(PROFILES))):
                return f"crash: error names no profile file: {text[:300]}"
            if "settings validator failed" in text:
                return f"crash: {text[:300]}"
        return "refused"
    except Exception as exc:
        return f"crash: {type(exc).__name__}: {str(exc)[:300]}"
    return "loaded"


def run_case(case: Case, path: Path, *, memory: bool = False) -> Outcome:
    path.write_bytes(case.text)
    if memory:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        result = load(path)
    finally:
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if memory else 0.0
        if memory:
            tracemalloc.stop()
    return Outcome(case.family, case.label, len(case.text), result, seconds, cpu_seconds, peak)


def run(count: int, seed: int, *, memory: bool, crashes: Path | None, progress: bool = True) -> dict[str, Any]:
    os.environ["HEALTHGATE_PROFILES_DIR"] = str(PROFILES)  # "extends: ai-monitoring" finds the shipped one
    for kind in available_kinds():  # imported and its schema built once per process: not the cost of an input
        settings_model(kind)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="profile-fuzz-") as tmp:
        path = Path(tmp) / "fuzz.yaml"
        for i, case in enumerate(cases(count, seed)):
            outcome = run_case(case, path)
            if memory:
                outcome.peak_mb = run_case(case, path, memory=True).peak_mb
            outcomes.append(outcome)
            if outcome.result.startswith("crash") and crashes is not None:
                crashes.mkdir(parents=True, exist_ok=True)
                (crashes / f"crash-{i:05d}-{case.family}.yaml").write_bytes(case.text)
            if progress and (i + 1) % 1000 == 0:
                print(f"  {i + 1}/{count} inputs", file=sys.stderr)
            forget_secrets()  # the registry would otherwise grow with every input
    slowest = max(outcomes, key=lambda o: o.seconds)
    slowest_cpu = max(outcomes, key=lambda o: o.cpu_seconds)
    hungriest = max(outcomes, key=lambda o: o.peak_mb)
    crashed = [o for o in outcomes if o.result.startswith("crash")]
    return {
        "count": count, "seed": seed, "wall_s": round(time.perf_counter() - started, 1),
        "by_family": {f: dict(Counter(o.result if not o.result.startswith("crash") else "crash"
                                      for o in outcomes if o.family == f)) for f in FAMILIES},
        "crashes": [asdict(o) for o in crashed],
        "over_time_budget": [asdict(o) for o in outcomes if o.seconds > TIME_BUDGET_S],
        "over_cpu_budget": [asdict(o) for o in outcomes if o.cpu_seconds > TIME_BUDGET_S],
        "over_memory_budget": [asdict(o) for o in outcomes if o.peak_mb > MEMORY_BUDGET_MB],
        "slowest": asdict(slowest), "slowest_cpu": asdict(slowest_cpu),
        "hungriest": asdict(hungriest) if memory else None,
        "median_ms": round(sorted(o.seconds for o in outcomes)[len(outcomes) // 2] * 1000, 2),
        # the whole process, generator and tracemalloc pass included: an upper bound for any one input
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "slowest_per_family": {f: asdict(max((o for o in outcomes if o.family == f), key=lambda o: o.seconds))
                               for f in FAMILIES if any(o.family == f for o in outcomes)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--crashes", type=Path, default=None, help="write crashing inputs to this directory")
    parser.add_argument("--out", type=Path, default=None, help="write the full report as JSON")
    args = parser.parse_args(argv)
    report = run(args.count, args.seed, memory=not args.no_memory, crashes=args.crashes)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    slowest = report["slowest"]
    print(f"{report['count']} profiles in {report['wall_s']} s (median {report['median_ms']} ms per input)")
    for family, results in report["by_family"].items():
        print(f"  {family:<10} {results}")
    print(f"crashes: {len(report['crashes'])}")
    for crash in report["crashes"][:20]:
        print(f"  {crash['family']} {crash['label']}: {crash['result']}")
    for title, row in (("slowest (wall)", slowest), ("slowest (CPU)", report["slowest_cpu"])):
        print(f"{title}: {row['seconds'] * 1000:.1f} ms wall, {row['cpu_seconds'] * 1000:.1f} ms CPU "
              f"({row['family']}: {row['label']}, {row['size']:,} bytes)")
    if report["hungriest"]:
        hungriest = report["hungriest"]
        print(f"most memory: {hungriest['peak_mb']:.1f} MiB traced ({hungriest['family']}: {hungriest['label']}, "
              f"{hungriest['size']:,} bytes)")
    print(f"peak RSS of the whole run: {report['max_rss_mb']} MiB")
    print(f"over {TIME_BUDGET_S:.0f} s: {len(report['over_time_budget'])} wall, {len(report['over_cpu_budget'])} CPU; "
          f"over {MEMORY_BUDGET_MB:.0f} MiB: {len(report['over_memory_budget'])}")
    return 1 if report["crashes"] or report["over_cpu_budget"] or report["over_memory_budget"] else 0


if __name__ == "__main__":
    sys.exit(main())
