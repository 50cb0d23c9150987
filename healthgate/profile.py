"""Profiles: YAML that names the targets of one environment, loaded, merged, interpolated and validated up front.

Everything that can be wrong with a profile is found here, before any check runs, and reported as a
``ProfileError`` naming the file, line, key path, bad value and accepted form. That holds for hostile files too
(alias bombs, deep nesting, odd tags, huge numbers): ``profile_yaml`` reads the YAML within bounds, and nothing
else may raise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from healthgate import profile_yaml
from healthgate.data_safety.settings import DataSafety
from healthgate.errors import ProfileError, shown
from healthgate.heartbeat import Heartbeat
from healthgate.redact import SECRET_NAME, credentials_in, register_secret, register_secrets
from healthgate.targets import KINDS, available_kinds, settings_model
from healthgate.targets.base import CheckOverride, Model, TargetSettings, Timeouts
from healthgate.waivers import Waiver, reference_errors

PROFILE_ENV = "HEALTHGATE_PROFILE"
PROFILES_DIR_ENV = "HEALTHGATE_PROFILES_DIR"
DEFAULT_RUNBOOK_BASE = "docs/runbooks"

# Bounds on the work one profile can cause; with those of profile_yaml (size, values, nesting), any file, however
# hostile, loads or is refused within a second and a few tens of MB.
MAX_EXTENDS = 16  # files in one extends chain
MAX_DEFAULT_NESTING = 4  # ${A:-${B:-${C:-${D:-x}}}}
MAX_DOLLARS = 20_000  # '$' signs in all the values that read variables
# Problems gathered before validation stops: each one costs a little, and a generated or hostile profile can hold
# a hundred thousand; the first ones say what is wrong.
MAX_ERRORS = 200
MAX_ERRORS_SHOWN = 50

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ProfileHeader(Model):
    """Top-level profile keys other than ``targets`` (validated per kind) and ``extends`` (resolved first)."""

    name: str = Field(description="short name shown in reports (defaults to the file name)")
    description: str = ""
    provision: str | None = Field(
        None, description="'reference-stack' starts the built-in Docker stack for the run (demo profile)"
    )
    runbook_base: str = Field(DEFAULT_RUNBOOK_BASE, description="base URL or path of the runbook pages")
    timeouts: Timeouts = Timeouts()
    concurrency: int | None = Field(None, ge=1, le=1024, description="targets observed at once (--concurrency "
                                                                     "overrides; default 32)")
    checks: dict[str, CheckOverride] = Field(default_factory=dict, description="overrides by check name")
    data_safety: DataSafety | None = Field(None, description="baselines across deploys/recoveries, restore drill")
    waivers: list[Waiver] = Field(default_factory=list, description="known failures let through until a date")
    heartbeat: Heartbeat | None = Field(None, description="URL pinged at the start and end of a run "
                                                          "(healthchecks.io style); a secret")


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    header: ProfileHeader
    targets: dict[str, dict[str, TargetSettings]] = field(default_factory=dict)

    def targets_of(self, kind: str) -> list[tuple[str, TargetSettings]]:
        """Targets of one kind, sorted so every xdist worker collects the same items in the same order."""
        return sorted(self.targets.get(kind, {}).items())


# --------------------------------------------------------------------------------------------- locating

def _is_file(path: Path, spec: str) -> bool:
    """``Path.is_file`` that refuses a name no file system takes (too long, a NUL byte) instead of crashing."""
    try:
        return path.is_file()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProfileError(f"{shown(spec)} cannot name a profile file: {reason}",
                           hint="give an existing YAML file or a name under profiles/") from None


def _resolved(path: Path, spec: str) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ProfileError(f"{shown(spec)} cannot name a profile file: {exc}",
                           hint="give an existing YAML file or a name under profiles/") from None


def resolve_profile_path(spec: str, *, search: list[Path] | None = None) -> Path:
    """A profile given as a path, or as a name looked up in ``profiles/`` (or ``$HEALTHGATE_PROFILES_DIR``)."""
    candidate = Path(spec).expanduser()
    if candidate.suffix in (".yaml", ".yml") or "/" in spec or os.sep in spec:
        if _is_file(candidate, spec):
            return _resolved(candidate, spec)
        raise ProfileError(
            "profile file not found", file=str(candidate), hint="give an existing YAML file or a name under profiles/"
        )
    dirs = list(search or [])
    if os.environ.get(PROFILES_DIR_ENV):
        dirs.insert(0, Path(os.environ[PROFILES_DIR_ENV]))
    dirs.append(Path.cwd() / "profiles")
    for directory in dirs:
        for suffix in (".yaml", ".yml"):
            path = directory / f"{spec}{suffix}"
            if _is_file(path, spec):
                return _resolved(path, spec)
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.y*ml")})
    raise ProfileError(
        f"no profile named {shown(spec)}",
        file=str(dirs[-1] / f"{spec}.yaml"),
        hint=f"known profiles: {', '.join(known) or 'none'}; or pass a path to a YAML file",
    )


# --------------------------------------------------------------------------------------------- extends

@dataclass
class _Source:
    path: Path
    data: dict[str, Any]
    lines: dict[tuple[Any, ...], int]


def _read_yaml(path: Path, budget: profile_yaml.Budget) -> _Source:
    document = profile_yaml.read(path, budget)
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise ProfileError(
            f"a profile is a mapping of keys, not a {type(data).__name__}",
            file=str(path),
            line=1,
            hint="start with 'name:' and 'targets:'",
        )
    return _Source(path=path, data=data, lines=document.lines)


def _merge(base: Any, override: Any) -> Any:
    """Deep merge for ``extends``: mappings merge key by key, anything else is replaced, ``null`` removes."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if value is None and key in merged and key not in ("description",):
                del merged[key]
            elif key in merged:
                merged[key] = _merge(merged[key], value)
            else:
                merged[key] = value
        return merged
    return override


def _load_chain(path: Path, chain: tuple[Path, ...] = (), budget: profile_yaml.Budget | None = None) -> list[_Source]:
    """The files of an ``extends`` chain, base first. One budget covers them all, so that a chain cannot multiply
    what one file may cost."""
    budget = budget or profile_yaml.Budget()
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ProfileError(f"extends cycle: {cycle}", file=str(chain[-1]), path=("extends",),
                           hint="a profile may not extend itself, directly or indirectly")
    if len(chain) >= MAX_EXTENDS:
        raise ProfileError(f"extends chain longer than {MAX_EXTENDS} files", file=str(chain[-1]), path=("extends",),
                           hint="let profiles extend a common base instead of one another in a line")
    source = _read_yaml(path, budget)
    parent_spec = source.data.get("extends")
    if parent_spec is None:
        return [source]
    if not isinstance(parent_spec, str) or not parent_spec:
        raise ProfileError(
            f"{shown(parent_spec)} is not a profile name or path",
            file=str(path), line=source.lines.get(("extends",)), path=("extends",),
            hint="extends: production  (a name under profiles/) or extends: ./base.yaml",
        )
    try:
        if parent_spec.endswith((".yaml", ".yml")) or "/" in parent_spec:
            parent_path = _resolved(path.parent / parent_spec, parent_spec)
            if not _is_file(parent_path, parent_spec):
                raise ProfileError("profile file not found", file=str(parent_path))
        else:
            parent_path = resolve_profile_path(parent_spec, search=[path.parent])
    except ProfileError as exc:
        raise ProfileError(
            f"extends {shown(parent_spec)}: {exc.message}", file=str(path), line=source.lines.get(("extends",)),
            path=("extends",), hint=exc.hint,
        ) from None
    return [*_load_chain(parent_path, (*chain, path), budget), source]


# --------------------------------------------------------------------------------------------- interpolation

@dataclass(frozen=True)
class _Reference:
    name: str
    default: list[str | _Reference] | None  # None: no default; a default may itself hold references


class _Malformed(Exception):
    pass


def _parse_template(text: str) -> list[str | _Reference]:
    """``$$``, ``${NAME}`` and ``${NAME:-default}`` in ``text``, the default itself interpolated (up to
    MAX_DEFAULT_NESTING levels). One pass over the text: a regex would retry every ``${`` to the end of a long
    value, quadratic in its length."""
    parts, _ = _parse_parts(text, 0, 0)
    return parts


def _parse_parts(text: str, pos: int, depth: int) -> tuple[list[str | _Reference], int]:
    """Parts from ``pos`` to the end of ``text`` or, inside a default (``depth`` > 0), to its closing ``}``;
    returns them and the position of that ``}``."""
    parts: list[str | _Reference] = []
    literal: list[str] = []
    close = text.find("}", pos) if depth else -1
    while True:
        dollar = text.find("$", pos)
        if depth and close < pos:
            close = text.find("}", pos)
        if depth and close != -1 and (dollar == -1 or close < dollar):
            return [*parts, "".join([*literal, text[pos:close]])], close
        if dollar == -1:
            if depth:
                raise _Malformed("a '${NAME:-' default is not closed with '}'")
            return [*parts, "".join([*literal, text[pos:]])], len(text)
        literal.append(text[pos:dollar])
        following = text[dollar + 1:dollar + 2]
        if following == "$":
            literal.append("$")
            pos = dollar + 2
        elif following == "{":
            parts.append("".join(literal))
            literal = []
            reference, pos = _parse_reference(text, dollar + 2, depth)
            parts.append(reference)
        else:
            literal.append("$")
            pos = dollar + 1


def _parse_reference(text: str, pos: int, depth: int) -> tuple[_Reference, int]:
    """The reference whose name starts at ``pos`` (just after ``${``), and the position after its ``}``."""
    name = _NAME.match(text, pos)
    if name is None:
        raise _Malformed("'${' must be followed by a variable name")
    pos = name.end()
    if text.startswith("}", pos):
        return _Reference(name.group(), None), pos + 1
    if text.startswith(":-", pos):
        if depth >= MAX_DEFAULT_NESTING:
            raise _Malformed(f"defaults nest more than {MAX_DEFAULT_NESTING} levels deep")
        default, close = _parse_parts(text, pos + 2, depth + 1)
        return _Reference(name.group(), default), close + 1
    raise _Malformed(f"'${{{name.group()}' must be followed by '}}' or ':-default}}'")


class _Interpolation:
    """``${VAR}`` resolved throughout one profile. The parser's work is bounded for the whole profile: values
    without a reference only turn ``$$`` into ``$``, and those with one may hold MAX_DOLLARS ``$`` signs in all."""

    def __init__(self, environ: dict[str, str], errors: list[ProfileError]) -> None:
        self.environ = environ
        self.errors = errors
        self.dollars = 0
        # A mapping or list an alias repeats is one object in the data, done once: the work is that of the file,
        # not of its expansion, and a problem in it is reported once, where it is first used.
        self.done: dict[int, Any] = {}

    def __call__(self, value: Any, path: tuple[Any, ...] = ()) -> Any:
        if isinstance(value, dict | list):
            if id(value) not in self.done:
                self.done[id(value)] = {k: self(v, (*path, k)) for k, v in value.items()} if isinstance(
                    value, dict) else [self(v, (*path, i)) for i, v in enumerate(value)]
            return self.done[id(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        if "${" not in value:
            return value.replace("$$", "$")
        self.dollars += value.count("$")
        if self.dollars > MAX_DOLLARS:
            if self.dollars - value.count("$") <= MAX_DOLLARS:  # say it once, at the value that went over
                self.errors.append(ProfileError(
                    f"more than {MAX_DOLLARS:,} '$' in values that read variables",
                    path=path, hint="a profile reads a few dozen variables; write fewer ${NAME} references"))
            return value
        try:
            parts = _parse_template(value)
        except _Malformed as exc:
            self.errors.append(ProfileError(
                f"malformed variable reference in {shown(value)}: {exc}",
                path=path, hint="write ${NAME} or ${NAME:-default}; write $$ for a literal $",
            ))
            return value
        return self._render(parts, path, bool(path) and bool(SECRET_NAME.search(str(path[-1]))), set())

    def _render(self, parts: list[str | _Reference], path: tuple[Any, ...], secret: bool, unset: set[str]) -> str:
        """The text of ``parts``; ``unset`` holds the variables already reported for this value (once each)."""
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            resolved = self.environ.get(part.name)
            if resolved is None or (resolved == "" and part.default is not None):
                if part.default is not None:
                    resolved = self._render(part.default, path, secret, unset)
                else:
                    if part.name not in unset:
                        unset.add(part.name)
                        self.errors.append(ProfileError(
                            f"environment variable {part.name} is not set",
                            path=path,
                            hint=f"export {part.name}=... or write ${{{part.name}:-default}}",
                        ))
                    resolved = ""
            if secret or SECRET_NAME.search(part.name):
                register_secret(resolved)
            out.append(resolved)
        return "".join(out)


# --------------------------------------------------------------------------------------------- validation

def _pydantic_errors(exc: ValidationError, prefix: tuple[Any, ...]) -> list[ProfileError]:
    errors = []
    found = exc.errors(include_url=False)
    if len(found) > MAX_ERRORS_SHOWN:  # a list of 100,000 wrong items is one problem, shown by its first items
        errors.append(ProfileError(f"{len(found) - MAX_ERRORS_SHOWN:,} more problems besides those listed",
                                   path=prefix))
    for err in found[:MAX_ERRORS_SHOWN]:
        loc = tuple(str(p) if not isinstance(p, int) else p for p in err.get("loc", ()))
        message = err.get("msg", "invalid")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        kind = err.get("type", "")
        hint = ""
        if kind == "extra_forbidden":
            message = "unknown key"
            hint = "check the spelling; `python -m healthgate schema` lists every accepted key"
        elif "input" in err and kind not in ("missing", "value_error"):
            value = err["input"]
            quoted = type(value).__name__ if isinstance(value, dict | list) else shown(value)
            message = f"{quoted}: {message}"
        errors.append(ProfileError(message, path=(*prefix, *loc), hint=hint))
    return errors


def _invalid(model: Any, data: Any, prefix: tuple[Any, ...], errors: list[ProfileError]) -> Any:
    """``model`` validated from ``data``, or None with the problems added to ``errors``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, prefix))
    except Exception as exc:  # a validator that failed on input it did not expect: still the profile's problem
        errors.append(ProfileError(f"settings validator failed: {type(exc).__name__}: {shown(str(exc), 200)}",
                                   path=prefix, hint="check the values under this key; please report this message"))
    return None


def _validate(data: dict[str, Any], default_name: str) -> tuple[ProfileHeader, dict[str, dict[str, TargetSettings]],
                                                                 list[ProfileError]]:
    errors: list[ProfileError] = []
    header_data = {k: v for k, v in data.items() if k not in ("targets", "extends")}
    header_data.setdefault("name", default_name)
    header = _invalid(ProfileHeader, header_data, (), errors)

    targets: dict[str, dict[str, TargetSettings]] = {}
    raw_targets = data.get("targets", {})
    if raw_targets is None:
        raw_targets = {}
    if not isinstance(raw_targets, dict):
        errors.append(ProfileError("'targets' must map target kinds to named targets", path=("targets",),
                                   hint="targets:\\n  postgres:\\n    main: {dsn: ...}"))
        raw_targets = {}
    # Names written in the profile, valid or not: data_safety may refer to a target whose settings have a typo,
    # and "no such target" would be a second, false, error about the same line.
    declared: dict[str, dict[str, None]] = {}
    unreadable: set[str] = set()
    for kind, named in raw_targets.items():
        if kind not in KINDS:
            errors.append(ProfileError(f"unknown target kind {kind!r}", path=("targets", str(kind)),
                                       hint=f"known kinds: {', '.join(sorted(KINDS))}"))
            continue
        if kind not in available_kinds():
            errors.append(ProfileError(f"target kind {kind!r} is not implemented in this version",
                                       path=("targets", kind), hint=f"available: {', '.join(available_kinds())}"))
            continue
        if named is None:
            continue
        if not isinstance(named, dict):
            errors.append(ProfileError(f"{kind} targets must be a mapping of name to settings",
                                       path=("targets", kind), hint=f"{kind}:\\n  main: {{...}}"))
            unreadable.add(kind)
            continue
        model = settings_model(kind)
        declared[kind] = dict.fromkeys(map(str, named))
        for name, settings in named.items():
            if len(errors) >= MAX_ERRORS:
                break
            if not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
                errors.append(ProfileError(f"{shown(name)} is not a valid target name",
                                           path=("targets", kind, str(name)),
                                           hint="letters, digits, '-', '_' and '.', starting with a letter or digit"))
                continue
            validated = _invalid(model, settings if settings is not None else {}, ("targets", kind, name), errors)
            if validated is not None:
                targets.setdefault(kind, {})[name] = validated
    if header is not None and header.data_safety is not None:
        errors.extend(e for e in header.data_safety.reference_errors(declared) if e.path[2] not in unreadable)
    if header is not None:
        # a target whose settings failed to validate still counts as declared: its own error is the only one
        errors.extend(reference_errors(header.waivers, declared))
    return header, targets, errors


def _locate(error: ProfileError, sources: list[_Source]) -> ProfileError:
    """Point an error at the most specific file and line that defines its key path."""
    for source in reversed(sources):
        path = error.path
        while path:
            if path in source.lines:
                return ProfileError(error.message, file=str(source.path), line=source.lines[path], path=error.path,
                                    hint=error.hint)
            path = path[:-1]
    return ProfileError(error.message, file=str(sources[-1].path), path=error.path, hint=error.hint)


def _secrets(data: Any) -> Iterator[str]:
    """Every credential in the profile's data as validated, literal or interpolated: the values under secret keys
    (``token``, ``password``, an ``X-Api-Key`` or ``Cookie`` header) and the passwords inside URLs and DSNs. The
    data as written rather than the settings models: the same keys, without walking every default, and a part
    repeated by an alias is one object, read once."""
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, key = stack.pop()
        if isinstance(value, dict | list):
            if id(value) in seen:
                continue
            seen.add(id(value))
            items = value.items() if isinstance(value, dict) else ((key, item) for item in value)
            stack.extend((item, str(name)) for name, item in items)
        elif isinstance(value, str):
            yield from credentials_in(key, value)


def load_profile(spec: str | Path, *, environ: dict[str, str] | None = None) -> Profile:
    """Load, merge (``extends``), interpolate (``${VAR}``) and validate a profile; raise the first problem found
    (all problems are in ``ProfileErrors.errors``). Every credential it holds is registered for redaction."""
    path = resolve_profile_path(str(spec)) if not isinstance(spec, Path) else _resolved(spec, str(spec))
    if isinstance(spec, Path) and not _is_file(path, str(spec)):
        raise ProfileError("profile file not found", file=str(path))
    sources = _load_chain(path)
    merged: dict[str, Any] = {}
    for source in sources:
        merged = _merge(merged, source.data)
    merged.pop("extends", None)
    errors: list[ProfileError] = []
    interpolated = _Interpolation(dict(os.environ) if environ is None else environ, errors)(merged)
    header, targets, validation_errors = _validate(interpolated, path.stem)
    errors.extend(validation_errors)
    if errors:
        located = [_locate(e, sources) for e in errors[:MAX_ERRORS]]
        raise ProfileErrors(located, complete=len(errors) < MAX_ERRORS)
    register_secrets(_secrets(interpolated))
    return Profile(name=header.name, path=path, header=header, targets=targets)


class ProfileErrors(ProfileError):
    """Several problems at once: a user fixing a profile should see all of them, not one per run."""

    def __init__(self, errors: list[ProfileError], *, complete: bool = True) -> None:
        self.errors = errors
        self.complete = complete  # False: validation stopped at MAX_ERRORS, there may be more
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, path=first.path, hint=first.hint)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return ProfileError.__str__(self.errors[0])
        listed = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(listed)
        count = f"{len(self.errors)} problems" if self.complete else f"{len(self.errors)} problems (and maybe more: " \
                                                                                  "validation stops at that many)"
        return (f"{count}:\n" + "\n".join(f"  {ProfileError.__str__(e)}" for e in listed)
                + (f"\n  ... and {more} more" if more else ""))


def json_schema() -> dict[str, Any]:
    """JSON Schema of a profile, for editors (``python -m healthgate schema``)."""
    schema = ProfileHeader.model_json_schema()
    defs = schema.setdefault("$defs", {})
    kinds: dict[str, Any] = {}
    for kind in available_kinds():
        kind_schema = settings_model(kind).model_json_schema(ref_template="#/$defs/{model}")
        defs.update(kind_schema.pop("$defs", {}))
        title = f"{kind.capitalize()}Target"
        defs[title] = kind_schema
        kinds[kind] = {"type": "object", "additionalProperties": {"$ref": f"#/$defs/{title}"}}
    schema["properties"]["extends"] = {"type": "string", "description": "profile name or path to merge over"}
    schema["properties"]["targets"] = {"type": "object", "properties": kinds, "additionalProperties": False}
    schema["required"] = []
    schema["title"] = "healthgate profile"
    return schema
