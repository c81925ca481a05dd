"""``extends:``: a chart built on another, merged at the YAML node level.

The base chart's nodes are merged under the extending chart's before anything is read,
so every later check sees one chart and still reports each problem at the ``file:line:col``
where its node was written (the base file's nodes are remembered by identity).

Merging: ``states`` merge state by state, recursively (a state of the extension adds to
or overrides the base state's keys; its ``states`` and ``regions`` merge in turn);
``commands``, ``signals``, ``notifications``, ``settings``, ``session`` and ``defaults``
merge entry by entry, an entry of the extension replacing the base's whole entry (a
signal restated lists all its transitions); ``rights`` are the union; every other key
is the extension's if it gives one.
"""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Mapping, MutableMapping

import yaml

from .errors import SpecError
from .yaml_nodes import NodeReader, compose_file

__all__ = ["merge_layers", "shipped_chart_path"]

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_BY_ENTRY = ("commands", "signals", "notifications", "settings", "session", "defaults")
#: how deep ``extends`` may chain: a guard against a runaway chain of distinct files
MAX_DEPTH = 16

Entries = dict[str, tuple[yaml.Node, yaml.Node]]


def shipped_chart_path(name: str) -> str | None:
    """The path of a chart shipped with the package by its name (``agent``), if any."""
    path = importlib.resources.files("cti_fsm.specs").joinpath(f"{name}.yaml")
    return str(path) if path.is_file() else None


def merge_layers(
    r: NodeReader, top: Entries, files: MutableMapping[int, str]
) -> tuple[Entries, tuple[str, ...], list[yaml.Node]]:
    """Merge the chain of charts ``top`` extends under it.

    Args:
        r: the reader problems are recorded on.
        top: the extending chart's top-level entries (with an ``extends`` key).
        files: filled with ``id(node) -> file`` for every node of a base chart.

    Returns:
        The merged entries (without ``extends``), the base charts' names nearest first,
        and the base charts' root nodes (keep them alive while the ids are used).
    """
    return _merge(r, top, files, r.file, [os.path.realpath(r.file)])


def _merge(
    r: NodeReader,
    top: Entries,
    files: MutableMapping[int, str],
    file: str,
    chain: list[str],
) -> tuple[Entries, tuple[str, ...], list[yaml.Node]]:
    key_node, ref_node = top["extends"]
    merged = {k: v for k, v in top.items() if k != "extends"}
    ref = r.string(ref_node, "extends")
    if ref is None:
        return merged, (), []
    path = _locate(ref, file)
    if path is None:
        r.problem(
            ref_node,
            f"extends: no chart {ref!r} (a shipped chart's name, such as 'agent', or a path"
            " to a chart file relative to this one)",
        )
        return merged, (), []
    real = os.path.realpath(path)
    if real in chain:
        route = " -> ".join(os.path.basename(p) for p in (*chain, real))
        r.problem(ref_node, f"extends cycle: {route}")
        return merged, (), []
    if len(chain) > MAX_DEPTH:
        r.problem(ref_node, f"extends: a chain of more than {MAX_DEPTH} charts")
        return merged, (), []
    try:
        root = compose_file(path)
    except SpecError as exc:
        for p in exc.problems:
            r.problems.append(p)
        return merged, (), []
    _remember(root, path, files)
    base = r.mapping(root, f"chart {ref!r}")
    layers = [root] if root is not None else []
    names: tuple[str, ...] = ()
    if "extends" in base:
        base, names, more = _merge(r, base, files, path, [*chain, real])
        layers.extend(more)
    base_name = r.string(base["chart"][1], "chart name") if "chart" in base else None
    if base_name is not None:
        names = (base_name, *names)
    for key, (k_node, v_node) in merged.items():
        if key in base and key == "states":
            base[key] = (k_node, _merge_states(base[key][1], v_node))
        elif key in base and key in _BY_ENTRY:
            base[key] = (k_node, _merge_entries(base[key][1], v_node))
        elif key in base and key == "rights":
            base[key] = (k_node, _union(base[key][1], v_node))
        else:
            base[key] = (k_node, v_node)
    del key_node
    return base, names, layers


def _locate(ref: str, file: str) -> str | None:
    if ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref:
        here = os.path.dirname(file) if file and not file.startswith("<") else "."
        path = os.path.join(here, ref)
        return path if os.path.isfile(path) else None
    return shipped_chart_path(ref)


def _remember(node: yaml.Node | None, file: str, files: MutableMapping[int, str]) -> None:
    todo = [node] if node is not None else []
    seen: set[int] = set()
    while todo:
        n = todo.pop()
        if id(n) in seen:
            continue  # an alias: the same node twice
        seen.add(id(n))
        files[id(n)] = file
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                todo.append(k)
                todo.append(v)
        elif isinstance(n, yaml.SequenceNode):
            todo.extend(n.value)


def _key(node: yaml.Node) -> object:
    return node.value if isinstance(node, yaml.ScalarNode) else id(node)


def _merge_entries(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    """Entry by entry: the extension's entry replaces the base's, new ones come last."""
    if not isinstance(over, yaml.MappingNode) or not isinstance(base, yaml.MappingNode):
        return over
    replacing: Mapping[object, tuple[yaml.Node, yaml.Node]] = {
        _key(k): (k, v) for k, v in over.value
    }
    out = [replacing.get(_key(k), (k, v)) for k, v in base.value]
    known = {_key(k) for k, _ in base.value}
    out.extend((k, v) for k, v in over.value if _key(k) not in known)
    return yaml.MappingNode(_MAP_TAG, out, over.start_mark, over.end_mark)


def _merge_states(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    """State by state, recursively."""
    if not isinstance(over, yaml.MappingNode) or not isinstance(base, yaml.MappingNode):
        return over
    by_name = {_key(k): (k, v) for k, v in over.value}
    out = []
    for k, v in base.value:
        if _key(k) in by_name:
            ok, ov = by_name[_key(k)]
            out.append((ok, _merge_state_body(v, ov)))
        else:
            out.append((k, v))
    known = {_key(k) for k, _ in base.value}
    out.extend((k, v) for k, v in over.value if _key(k) not in known)
    return yaml.MappingNode(_MAP_TAG, out, over.start_mark, over.end_mark)


def _merge_state_body(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    if not isinstance(over, yaml.MappingNode):
        return base  # a null body adds nothing
    if not isinstance(base, yaml.MappingNode):
        return over
    own = {_key(k): (k, v) for k, v in over.value}
    out = []
    for k, v in base.value:
        if _key(k) not in own:
            out.append((k, v))
            continue
        ok, ov = own[_key(k)]
        if _key(k) in ("states", "regions"):
            out.append((ok, _merge_states(v, ov)))
        else:
            out.append((ok, ov))
    known = {_key(k) for k, _ in base.value}
    out.extend((k, v) for k, v in over.value if _key(k) not in known)
    return yaml.MappingNode(_MAP_TAG, out, over.start_mark, over.end_mark)


def _union(base: yaml.Node, over: yaml.Node) -> yaml.Node:
    items = [*_items(base), *_items(over)]
    seen: set[object] = set()
    out = []
    for item in items:
        if _key(item) not in seen:
            seen.add(_key(item))
            out.append(item)
    return yaml.SequenceNode(_SEQ_TAG, out, over.start_mark, over.end_mark)


def _items(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [node] if isinstance(node, yaml.ScalarNode) else []
