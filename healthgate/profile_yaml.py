"""Reading the YAML of one profile file, with bounds, so that no file can make the loader crash, hang or exhaust
memory: every problem is a ``ProfileError`` naming the line and, when known, the key path.

PyYAML is used for what it does safely (scanning, parsing, tag resolution, scalar constructors); the node graph is
composed here instead, because PyYAML's composer recurses once per nesting level (a deep file overflows the C stack
in libyaml's build) and follows aliases without a limit (a 400-byte alias bomb expands to millions of values).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from healthgate.errors import ProfileError, shown

MAX_BYTES = 1024 * 1024
# Values a profile and the files it extends may expand to, counting each alias as the values it repeats. The
# largest profile the benchmarks generate (3,334 targets) holds about 13,000 and loads in 0.4 s; the worst file
# found within the budget (15,000 distinct top-level keys) is refused in 0.7 s of CPU, 23 MB traced (2-CPU host).
MAX_VALUES = 30_000
# Mappings and lists inside one another; shipped profiles nest at most 7 deep. Bounded so that everything that
# walks a profile afterwards (constructors, extends, interpolation, validation) may recurse.
MAX_DEPTH = 64
# Integers beyond this are typos; Python would also refuse to print one past 4,300 digits.
INT_LIMIT = 2**63

_YAML_TAG = "tag:yaml.org,2002:"
_MERGE_TAG = _YAML_TAG + "merge"
_INT_TAG = _YAML_TAG + "int"
_STR_TAG = _YAML_TAG + "str"
_IMMUTABLE_TAGS = frozenset(_YAML_TAG + t for t in ("int", "float", "bool", "null"))

# libyaml's parser when PyYAML has it: the pure-Python one is ten times slower, and takes seconds on some hostile
# inputs (a long line of '[') before yielding the events that would stop it. Without libyaml the bounds on values
# and nesting still hold, the one on time is a few seconds instead of one.
_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class Document:
    """One file: its data as constructed (aliased parts are shared objects), and where each key path is."""

    data: Any
    lines: dict[tuple[Any, ...], int]  # key path → line, for errors found after loading


class Budget:
    """Values spent by the profile being loaded, against MAX_VALUES; shared by every file of an ``extends`` chain.
    The composer adds to ``spent`` itself (it runs once per event) and calls ``exceeded`` past the limit."""

    def __init__(self, limit: int = MAX_VALUES) -> None:
        self.limit = limit
        self.spent = 0
        self.aliased = False  # whether aliases spent some of it: then they are the likely cause

    def exceeded(self, mark: Any) -> NoReturn:
        if self.aliased:
            raise ProfileError(f"the profile expands to more than {self.limit:,} values", line=mark.line + 1,
                               hint="an alias (*name) repeats everything under its anchor and aliases of aliases "
                                    "multiply: repeat less")
        raise ProfileError(f"the profile holds more than {self.limit:,} values", line=mark.line + 1,
                           hint="split its targets across profiles (extends: shares the common part)")


def read(path: Path, budget: Budget) -> Document:
    """The data of one YAML file, with the line of every key path, or a ``ProfileError`` naming the file."""
    text = _text(path)
    loader = None
    try:
        loader = _Loader(text)  # the pure-Python reader already refuses control characters here
        root = _compose(loader, budget)
        lines = _index(root, loader.paths) if root is not None else {}
        data = loader.construct_document(root) if root is not None else None
    except ProfileError as exc:
        raise ProfileError(exc.message, file=str(path), line=exc.line, path=exc.path, hint=exc.hint) from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"not valid YAML: {_problem(exc)}", file=str(path), line=_line(exc, text)) from None
    finally:
        if loader is not None:
            loader.dispose()
    return Document(data, lines)


def _text(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"cannot read profile: {exc.strerror or exc}", file=str(path)) from None
    if len(raw) > MAX_BYTES:
        raise ProfileError(f"profile is larger than {MAX_BYTES // 1024 // 1024} MiB", file=str(path),
                           hint="split the targets across profiles (extends: shares the common part)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProfileError("profile is not UTF-8 text", file=str(path)) from None


def _problem(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
    return " ".join(str(problem).split())


def _line(exc: yaml.YAMLError, text: str) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return int(mark.line) + 1
    position = getattr(exc, "position", None)  # reader errors (a control character) give an offset instead
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None


# --------------------------------------------------------------------------------------------- composing

def _compose(loader: Any, budget: Budget) -> yaml.Node | None:
    """The node graph of the single document, built without recursion. Refuses nesting deeper than MAX_DEPTH
    (counting what aliases bring in), an alias inside the value it repeats (a value containing itself), and
    documents expanding past the budget: each node costs one value, each alias the values it repeats, so the
    work of everything downstream is bounded before any of it starts. Written for speed (a large profile has
    tens of thousands of events): plain scalars take the shortest path, anchors alone are remembered."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # document start
    anchors: dict[str, yaml.Node] = {}
    anchored: set[int] = set()  # ids of the collections with an anchor
    extent: dict[int, tuple[int, int]] = {}  # id of a finished anchored node → (values it expands to, levels)
    stack: list[list[Any]] = []  # open collections: [node, children, values, levels]
    root: yaml.Node | None = None
    resolved = loader.resolved
    scalar_event, scalar_node = yaml.ScalarEvent, yaml.ScalarNode
    node: yaml.Node
    while True:
        event: Any = loader.get_event()
        kind = type(event)
        if kind is scalar_event:
            budget.spent += 1
            if budget.spent > budget.limit:
                budget.exceeded(event.start_mark)
            tag = event.tag
            if tag is None or tag == "!":
                # the same few keys and values recur throughout a profile (url, thresholds, true): resolve once
                key = (event.value, event.implicit)
                tag = resolved.get(key)
                if tag is None:
                    tag = resolved[key] = loader.resolve(scalar_node, event.value, event.implicit)
                node = scalar_node(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            else:
                node = scalar_node(tag, event.value, event.start_mark, event.end_mark, style=event.style)
                loader.explicit.add(id(node))
            if event.anchor is not None:
                _anchor(anchors, event, node)
                extent[id(node)] = (1, 1)
            if stack:
                top = stack[-1]
                top[1].append(node)
                top[2] += 1
                if top[3] < 2:
                    top[3] = 2
            else:
                root = node
            continue
        if kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if len(stack) >= MAX_DEPTH:
                raise ProfileError(f"nested more than {MAX_DEPTH} levels deep", line=event.start_mark.line + 1,
                                   hint="a profile nests a handful of levels; check the brackets and indentation")
            node_class = yaml.MappingNode if kind is yaml.MappingStartEvent else yaml.SequenceNode
            tag = event.tag
            explicit = tag is not None and tag != "!"
            if not explicit:
                tag = loader.resolve(node_class, None, event.implicit)
            node = node_class(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if explicit:
                loader.explicit.add(id(node))
            if event.anchor is not None:
                _anchor(anchors, event, node)
                anchored.add(id(node))
            budget.spent += 1
            if budget.spent > budget.limit:
                budget.exceeded(event.start_mark)
            stack.append([node, [], 1, 1])
            continue
        if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            node, children, values, levels = stack.pop()
            node.end_mark = event.end_mark
            node.value = list(zip(children[::2], children[1::2], strict=True)) if isinstance(
                node, yaml.MappingNode) else children
            if id(node) in anchored:
                extent[id(node)] = (values, levels)
        elif kind is yaml.AliasEvent:
            line = event.start_mark.line + 1
            if event.anchor not in anchors:
                raise ProfileError(f"alias *{event.anchor} refers to no anchor", line=line,
                                   hint=f"define &{event.anchor} on a value before this line")
            node = anchors[event.anchor]
            if id(node) not in extent:
                raise ProfileError(f"alias *{event.anchor} is inside the value it repeats, which would contain "
                                   "itself", line=line,
                                   hint="an alias may repeat a value defined before it, not one it is part of")
            values, levels = extent[id(node)]
            if len(stack) + levels > MAX_DEPTH:
                raise ProfileError(f"alias *{event.anchor} nests the profile more than {MAX_DEPTH} levels deep",
                                   line=line, hint="repeat a smaller part")
            budget.spent += values
            budget.aliased = True
            if budget.spent > budget.limit:
                budget.exceeded(event.start_mark)
        else:  # document end
            break
        if stack:
            top = stack[-1]
            top[1].append(node)
            top[2] += values
            if top[3] <= levels:
                top[3] = levels + 1
        else:
            root = node
    if not loader.check_event(yaml.StreamEndEvent):
        second: Any = loader.get_event()
        raise ProfileError("a profile is one YAML document, and a second one starts here",
                           line=second.start_mark.line + 1, hint="remove the '---' line and what follows it")
    return root


def _anchor(anchors: dict[str, yaml.Node], event: Any, node: yaml.Node) -> None:
    if event.anchor in anchors:
        first = anchors[event.anchor].start_mark.line + 1
        raise ProfileError(f"anchor &{event.anchor} is defined twice (first at line {first})",
                           line=event.start_mark.line + 1, hint="give each anchor its own name")
    anchors[event.anchor] = node


def _pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node]]:
    """Key/value nodes of a mapping as it reads after merging: its own keys, then those its ``<<`` brings in."""
    merged = []
    for key, value in node.value:
        if key.tag == _MERGE_TAG:
            merged.append(value)
        else:
            yield key, value
    for value in merged:
        for source in value.value if isinstance(value, yaml.SequenceNode) else [value]:
            if isinstance(source, yaml.MappingNode):
                yield from _pairs(source)


def _index(root: yaml.Node, paths: dict[int, tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    """Key path → line (a key's own line for mapping values), and node → its key path. The first occurrence
    wins: a key written in a mapping beats the same key merged into it, and a value repeated by an alias is
    indexed where it is written, so that the walk costs the nodes of the file, not the values they expand to
    (an error deeper inside a repetition points at the key that repeats it)."""
    lines: dict[tuple[Any, ...], int] = {}

    def visit(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in paths:
            return
        paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key, value in _pairs(node):
                child = (*path, key.value if isinstance(key, yaml.ScalarNode) else None)
                lines.setdefault(child, key.start_mark.line + 1)
                paths.setdefault(id(key), child)
                visit(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                visit(item, (*path, i))

    visit(root, ())
    return lines


# --------------------------------------------------------------------------------------------- constructing

class _Strict:
    """PyYAML's safe constructors, strict: a value that cannot be read becomes a ``ProfileError`` at its line.
    A mixin over a parser class (libyaml's or the pure-Python one, see ``loader_class``)."""

    constructed_objects: dict[yaml.Node, Any]
    yaml_constructors: dict[str | None, Any]

    def __init__(self, text: str) -> None:
        super().__init__(text)  # type: ignore[call-arg]
        self.paths: dict[int, tuple[Any, ...]] = {}  # id of a node → its first key path, to name a bad value
        self.explicit: set[int] = set()  # ids of the nodes whose tag is written out (!!int '')
        self.resolved: dict[tuple[str | None, Any], str] = {}
        self.scalars: dict[tuple[str, str], Any] = {}

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # Always deep: a value is complete when its constructor returns, so failures surface here, at its node.
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                return node.value  # most values of a profile: no constructor needed
            known = self.scalars.get((node.tag, node.value), self)
            if known is not self:  # numbers, booleans and nulls are immutable: read each spelling once
                return known
        elif node in self.constructed_objects:
            return self.constructed_objects[node]
        if node.tag == _INT_TAG and isinstance(node, yaml.ScalarNode) and len(node.value) > 100:
            raise self._refused(node, f"{shown(node.value, 30)} is out of range",
                                "no setting takes an integer beyond 2**63")
        if node.tag not in self.yaml_constructors:
            raise self._refused(node, f"unknown tag {self.tag(node)} on {self.describe(node)}",
                                "profiles take plain YAML values: remove the tag")
        try:
            data = super().construct_object(node, deep=True)  # type: ignore[misc]
        except ProfileError:
            raise
        except yaml.constructor.ConstructorError as exc:
            raise self._refused(node, f"cannot read {self.what(node)} ({exc.problem})") from None
        except ValueError as exc:  # says what is wrong: "day is out of range for month"
            raise self._refused(node, f"cannot read {self.what(node)} ({exc})") from None
        except Exception:  # PyYAML's scalar constructors fail on odd input with KeyError, IndexError, ...
            raise self._refused(node, f"cannot read {self.what(node)}") from None
        if isinstance(data, int) and not -INT_LIMIT < data < INT_LIMIT:
            raise self._refused(node, f"{shown(data)} is out of range", "no setting takes an integer beyond 2**63")
        if node.tag in _IMMUTABLE_TAGS and isinstance(node, yaml.ScalarNode):
            self.scalars[(node.tag, node.value)] = data
        return data

    @staticmethod
    def describe(node: yaml.Node) -> str:
        if isinstance(node, yaml.ScalarNode):
            return shown(node.value, 40)
        return "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"

    @staticmethod
    def tag(node: yaml.Node) -> str:
        return f"!!{node.tag[len(_YAML_TAG):]}" if node.tag.startswith(_YAML_TAG) else node.tag

    def what(self, node: yaml.Node) -> str:
        return f"{self.describe(node)} as {self.tag(node)}"

    def _refused(self, node: yaml.Node, message: str, hint: str = "") -> ProfileError:
        if not hint:
            if id(node) in self.explicit:
                hint = f"remove the {self.tag(node)} tag, or give a value of that type"
            else:
                hint = "quote the value to keep it as text"
        return ProfileError(message, line=node.start_mark.line + 1, path=self.paths.get(id(node), ()), hint=hint)


def _construct_mapping(loader: Any, node: yaml.Node) -> dict[Any, Any]:
    """A mapping with YAML merge keys (``<<: *base``, or a list of them, earlier ones first) applied under its
    own keys, and duplicate keys refused: PyYAML keeps the last of two silently, which hides a mistake."""
    if not isinstance(node, yaml.MappingNode):
        raise yaml.constructor.ConstructorError(None, None, f"{loader.describe(node)} is not a mapping",
                                                node.start_mark)
    merged: dict[Any, Any] = {}
    own: dict[Any, Any] = {}
    lines: dict[Any, int] = {}
    merge_line = 0
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == _MERGE_TAG:
            if merge_line:
                raise ProfileError(f"duplicate key '<<' (first at line {merge_line})", line=line,
                                   path=loader.paths.get(id(node), ()),
                                   hint="merge several mappings with one key: <<: [*a, *b]")
            merge_line = line
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for source in sources:
                data = loader.construct_object(source) if isinstance(source, yaml.MappingNode) else None
                if not isinstance(data, dict):
                    raise ProfileError("'<<' merges a mapping or a list of mappings", line=line,
                                       path=loader.paths.get(id(node), ()), hint="<<: *base  or  <<: [*a, *b]")
                for key, value in data.items():
                    merged.setdefault(key, value)
            continue
        key = loader.construct_object(key_node)
        try:
            hash(key)
        except TypeError:
            raise ProfileError(f"a key must be a plain value, not {loader.describe(key_node)}",
                               line=line, path=loader.paths.get(id(key_node), ())[:-1],
                               hint="write the key as text") from None
        if key in own:
            raise ProfileError(f"duplicate key {shown(key)} (first at line {lines[key]})", line=line,
                               path=loader.paths.get(id(key_node), (str(key),)),
                               hint="each key may appear once per mapping")
        lines[key] = line
        own[key] = loader.construct_object(value_node)
    return {**merged, **own}


def loader_class(parser: type) -> type:
    """The loader: ``_Strict`` over ``parser`` (``yaml.CSafeLoader`` or ``yaml.SafeLoader``)."""
    loader: Any = type("_Loader", (_Strict, parser), {})
    loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    # Plain '<<' and '=' outside a key are YAML 1.1's merge and value types, which have no constructor in PyYAML;
    # where someone writes them, they mean the text.
    loader.add_constructor(_MERGE_TAG, lambda loader, node: loader.construct_scalar(node))
    loader.add_constructor(_YAML_TAG + "value", lambda loader, node: loader.construct_scalar(node))
    return loader


_Loader: Any = loader_class(_Parser)
