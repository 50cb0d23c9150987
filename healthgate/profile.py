"""Profiles: YAML that names the targets of one environment, loaded, merged, interpolated and validated up front.

Everything that can be wrong with a profile is found here, before any check runs, and reported as a
``ProfileError`` naming the file, line, key path, bad value and accepted form.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError

from healthgate.data_safety.settings import DataSafety
from healthgate.errors import ProfileError
from healthgate.redact import SECRET_NAME, register_secret, url_password
from healthgate.targets import KINDS, available_kinds, settings_model
from healthgate.targets.base import CheckOverride, Model, TargetSettings, Timeouts

PROFILE_ENV = "HEALTHGATE_PROFILE"
PROFILES_DIR_ENV = "HEALTHGATE_PROFILES_DIR"
DEFAULT_RUNBOOK_BASE = "docs/runbooks"

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_BROKEN_VAR = re.compile(r"\$\{[^}]*$|\$\{[^A-Za-z_}]")


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

def resolve_profile_path(spec: str, *, search: list[Path] | None = None) -> Path:
    """A profile given as a path, or as a name looked up in ``profiles/`` (or ``$HEALTHGATE_PROFILES_DIR``)."""
    candidate = Path(spec).expanduser()
    if candidate.suffix in (".yaml", ".yml") or "/" in spec or os.sep in spec:
        if candidate.is_file():
            return candidate.resolve()
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
            if path.is_file():
                return path.resolve()
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.y*ml")})
    raise ProfileError(
        f"no profile named {spec!r}",
        file=str(dirs[-1] / f"{spec}.yaml"),
        hint=f"known profiles: {', '.join(known) or 'none'}; or pass a path to a YAML file",
    )


# --------------------------------------------------------------------------------------------- YAML + lines

# libyaml's parser when PyYAML was built with it (its wheels are): a thousand-target profile parses in a
# fraction of the pure-Python parser's time; keys, values and line numbers are the same
_SafeLoader: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


class _UniqueKeyLoader(_SafeLoader):
    """Duplicate keys in a mapping silently keep the last value in PyYAML; in a profile that hides a mistake."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ProfileError(
                f"duplicate key {key!r} (first at line {seen[key]})",
                line=key_node.start_mark.line + 1,
                path=(str(key),),
                hint="each key may appear once per mapping",
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_index(node: yaml.Node | None, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Key path → line number, so validation errors can point into the file."""
    index: dict[tuple[Any, ...], int] = {}
    if node is None:
        return index
    index[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            index[(*path, key)] = key_node.start_mark.line + 1
            index.update({k: v for k, v in _line_index(value_node, (*path, key)).items() if k != (*path, key)})
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.update(_line_index(item, (*path, i)))
    return index


@dataclass
class _Source:
    path: Path
    data: dict[str, Any]
    lines: dict[tuple[Any, ...], int]


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data, built from that one parse."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()


def _read_yaml(path: Path) -> _Source:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"cannot read profile: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ProfileError("profile is not UTF-8 text", file=str(path)) from None
    try:
        node, data = _parse(text)
    except ProfileError as exc:
        exc.file = str(path)
        raise ProfileError(exc.message, file=str(path), line=exc.line, path=exc.path, hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProfileError(
            f"not valid YAML: {problem}", file=str(path), line=mark.line + 1 if mark else None
        ) from None
    except RecursionError:
        raise ProfileError("YAML nesting is too deep", file=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProfileError(
            f"a profile is a mapping of keys, not a {type(data).__name__}",
            file=str(path),
            line=1,
            hint="start with 'name:' and 'targets:'",
        )
    return _Source(path=path, data=data, lines=_line_index(node))


# --------------------------------------------------------------------------------------------- extends

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


def _load_chain(path: Path, chain: tuple[Path, ...] = ()) -> list[_Source]:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ProfileError(f"extends cycle: {cycle}", file=str(chain[-1]), path=("extends",),
                           hint="a profile may not extend itself, directly or indirectly")
    source = _read_yaml(path)
    parent_spec = source.data.get("extends")
    if parent_spec is None:
        return [source]
    if not isinstance(parent_spec, str) or not parent_spec:
        raise ProfileError(
            f"{parent_spec!r} is not a profile name or path",
            file=str(path), line=source.lines.get(("extends",)), path=("extends",),
            hint="extends: production  (a name under profiles/) or extends: ./base.yaml",
        )
    try:
        if parent_spec.endswith((".yaml", ".yml")) or "/" in parent_spec:
            parent_path = (path.parent / parent_spec).resolve()
            if not parent_path.is_file():
                raise ProfileError("profile file not found", file=str(parent_path))
        else:
            parent_path = resolve_profile_path(parent_spec, search=[path.parent])
    except ProfileError as exc:
        raise ProfileError(
            f"extends {parent_spec!r}: {exc.message}", file=str(path), line=source.lines.get(("extends",)),
            path=("extends",), hint=exc.hint,
        ) from None
    return [*_load_chain(parent_path, (*chain, path)), source]


# --------------------------------------------------------------------------------------------- interpolation

def _interpolate(value: Any, path: tuple[Any, ...], environ: dict[str, str], errors: list[ProfileError]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), environ, errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), environ, errors) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    key_is_secret = bool(path) and bool(SECRET_NAME.search(str(path[-1])))

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        resolved = environ.get(name)
        if resolved is None or (resolved == "" and default is not None):
            if default is None:
                errors.append(ProfileError(
                    f"environment variable {name} is not set",
                    path=path,
                    hint=f"export {name}=... or write ${{{name}:-default}}",
                ))
                return ""
            resolved = default
        if key_is_secret or SECRET_NAME.search(name):
            register_secret(resolved)
        return resolved

    remainder = _VAR.sub("", value)
    if _BROKEN_VAR.search(remainder):
        errors.append(ProfileError(
            f"malformed variable reference in {value!r}",
            path=path, hint="write ${NAME} or ${NAME:-default}; write $$ for a literal $",
        ))
        return value
    result = _VAR.sub(substitute, value)
    password = url_password(result)
    if password:
        register_secret(password)
    return result


# --------------------------------------------------------------------------------------------- validation

def _pydantic_errors(exc: ValidationError, prefix: tuple[Any, ...]) -> list[ProfileError]:
    errors = []
    for err in exc.errors(include_url=False):
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
            shown = err["input"]
            if isinstance(shown, dict | list):
                shown = type(shown).__name__
            message = f"{shown!r}: {message}"
        errors.append(ProfileError(message, path=(*prefix, *loc), hint=hint))
    return errors


def _validate(data: dict[str, Any], default_name: str) -> tuple[ProfileHeader, dict[str, dict[str, TargetSettings]],
                                                                 list[ProfileError]]:
    errors: list[ProfileError] = []
    header_data = {k: v for k, v in data.items() if k not in ("targets", "extends")}
    header_data.setdefault("name", default_name)
    header = None
    try:
        header = ProfileHeader.model_validate(header_data)
    except ValidationError as exc:
        errors.extend(_pydantic_errors(exc, ()))

    targets: dict[str, dict[str, TargetSettings]] = {}
    raw_targets = data.get("targets", {})
    if raw_targets is None:
        raw_targets = {}
    if not isinstance(raw_targets, dict):
        errors.append(ProfileError("'targets' must map target kinds to named targets", path=("targets",),
                                   hint="targets:\\n  postgres:\\n    main: {dsn: ...}"))
        raw_targets = {}
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
            continue
        model = settings_model(kind)
        for name, settings in named.items():
            if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
                errors.append(ProfileError(f"{name!r} is not a valid target name", path=("targets", kind, str(name)),
                                           hint="letters, digits, '-', '_' and '.', starting with a letter or digit"))
                continue
            try:
                targets.setdefault(kind, {})[name] = model.model_validate(settings if settings is not None else {})
            except ValidationError as exc:
                errors.extend(_pydantic_errors(exc, ("targets", kind, name)))
    if header is not None and header.data_safety is not None:
        errors.extend(header.data_safety.reference_errors(targets))
    return header, targets, errors  # type: ignore[return-value]


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


def load_profile(spec: str | Path, *, environ: dict[str, str] | None = None) -> Profile:
    """Load, merge (``extends``), interpolate (``${VAR}``) and validate a profile; raise the first problem found
    (all problems are in ``ProfileErrors.errors``)."""
    path = resolve_profile_path(str(spec)) if not isinstance(spec, Path) else spec.resolve()
    if isinstance(spec, Path) and not path.is_file():
        raise ProfileError("profile file not found", file=str(path))
    sources = _load_chain(path)
    merged: dict[str, Any] = {}
    for source in sources:
        merged = _merge(merged, source.data)
    merged.pop("extends", None)
    errors: list[ProfileError] = []
    interpolated = _interpolate(merged, (), dict(os.environ) if environ is None else environ, errors)
    header, targets, validation_errors = _validate(interpolated, path.stem)
    errors.extend(validation_errors)
    if errors:
        located = [_locate(e, sources) for e in errors]
        raise ProfileErrors(located)
    return Profile(name=header.name, path=path, header=header, targets=targets)


class ProfileErrors(ProfileError):
    """Several problems at once: a user fixing a profile should see all of them, not one per run."""

    def __init__(self, errors: list[ProfileError]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(first.message, file=first.file, line=first.line, path=first.path, hint=first.hint)

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return ProfileError.__str__(self.errors[0])
        return f"{len(self.errors)} problems:\n" + "\n".join(f"  {ProfileError.__str__(e)}" for e in self.errors)


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
