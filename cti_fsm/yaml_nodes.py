"""Reading YAML with a position for every node, collecting problems instead of stopping.

PyYAML's composer keeps a mark on every node; this module walks composed nodes so that
each complaint names ``file:line:col``. Every spec loader (charts, vendor maps) reads
through ``NodeReader`` so all spec errors look alike and all of them are reported at once.

Reading is bounded, so a hostile or broken spec costs little: a spec is at most
``MAX_SPEC_BYTES`` long, and its aliases may not expand it beyond ``MAX_EXPANDED_NODES``
nodes (an alias repeats its anchor's whole subtree wherever it is used, so a kilobyte of
nested aliases stands for billions of nodes: the "billion laughs"). An alias inside the
node it refers to (a recursive alias) is refused as well. Both are found on the parser's
events before anything is composed, in one pass linear in the text, and reported at the
alias's ``file:line:col``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from .chart import Position
from .errors import Problem, SpecError

__all__ = ["MAX_EXPANDED_NODES", "MAX_SPEC_BYTES", "NodeReader", "compose_file", "compose_text"]

#: The longest spec read, in bytes (a chart of 10,000 states is about a megabyte).
MAX_SPEC_BYTES = 8 * 1024 * 1024
#: The most nodes a spec may stand for once its aliases are expanded.
MAX_EXPANDED_NODES = 1_000_000
#: Unknown names a reader suggests a close match for ("did you mean"); the rest are
#: reported without one, so a spec full of misspellings costs no more than a clean one.
MAX_SUGGESTIONS = 20
#: The most names a suggestion is looked for among.
MAX_SUGGESTION_CHOICES = 2000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_NULL_TAG = "tag:yaml.org,2002:null"
_STR_TAG = "tag:yaml.org,2002:str"


def compose_text(text: str, file: str) -> yaml.Node | None:
    """Compose YAML text into nodes.

    Raises:
        SpecError: the text is not well-formed YAML (with the parser's position), is
            longer than ``MAX_SPEC_BYTES``, has a recursive alias, or its aliases expand
            it beyond ``MAX_EXPANDED_NODES`` nodes.
    """
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([_too_large(file, f"{len(text)} characters")])
    try:
        if "*" in text:  # no alias, nothing to expand
            _check_aliases(text, file)
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Problem(file, line, col, f"invalid YAML: {exc.problem}")]) from None


def compose_file(path: str) -> yaml.Node | None:
    """Read and compose a YAML file (no more than ``MAX_SPEC_BYTES`` of it is read).

    Raises:
        SpecError: the file cannot be read, is too large, is not well-formed YAML, or its
            aliases are recursive or expand too far (see ``compose_text``).
    """
    try:
        with open(path, "rb") as f:
            # one byte more than allowed tells a file at the limit from one beyond it
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError([Problem(path, 1, 1, f"cannot read file: {exc.strerror}")]) from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError([_too_large(path, "more bytes")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line, col = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        raise SpecError(
            [Problem(path, line, col, f"not UTF-8 text: byte 0x{data[exc.start]:02x}")]
        ) from None
    return compose_text(text, path)


def _too_large(file: str, size: str) -> Problem:
    return Problem(
        file,
        1,
        1,
        f"too large for a spec: {size}, the limit is {MAX_SPEC_BYTES} bytes"
        " (cti_fsm.yaml_nodes.MAX_SPEC_BYTES)",
    )


def _check_aliases(text: str, file: str) -> None:
    """Refuse a recursive alias, or aliases that expand the document too far.

    One pass over the parser's events, counting the nodes the document stands for: a
    scalar or a collection counts one, an alias the expanded size of its anchor's node
    (known once that node is closed; an alias to a node still open is recursive).

    Raises:
        SpecError: at the offending alias.
        yaml.MarkedYAMLError: the text is not well-formed YAML.
    """
    sizes: dict[str, int] = {}  # anchor -> expanded size of its node
    open_nodes: list[tuple[str | None, int]] = []  # (anchor, expanded total at its start)
    total = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            size = sizes.get(anchor)
            if size is None:
                if any(a == anchor for a, _ in open_nodes):
                    _alias_problem(
                        file,
                        event,
                        f"recursive alias *{anchor}: it is inside the node it refers to",
                    )
                continue  # an undefined alias: the composer says so, with its position
            total += size
            if total > MAX_EXPANDED_NODES:
                _alias_problem(
                    file,
                    event,
                    f"aliases expand the spec beyond {MAX_EXPANDED_NODES} nodes here (*{anchor}"
                    f" stands for {size}); cti_fsm.yaml_nodes.MAX_EXPANDED_NODES is the limit",
                )
        elif isinstance(event, yaml.ScalarEvent):
            total += 1
            if event.anchor is not None:
                sizes[str(event.anchor)] = 1
        elif isinstance(event, yaml.CollectionStartEvent):
            total += 1
            open_nodes.append((event.anchor, total))
        elif isinstance(event, yaml.CollectionEndEvent):
            closed, start = open_nodes.pop()
            if closed is not None:
                sizes[closed] = total - start + 1


def _alias_problem(file: str, event: yaml.Event, message: str) -> None:
    mark = event.start_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    raise SpecError([Problem(file, line, col, message)])


def _suggest(word: str, choices: Iterable[str]) -> str:
    names = list(choices)
    # a suggestion compares the word with every name: past a few thousand names (a
    # generated chart) it would cost more than the whole load
    if len(names) > MAX_SUGGESTION_CHOICES:
        return ""
    close = difflib.get_close_matches(word, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class NodeReader:
    """Typed access to composed YAML nodes that records a ``Problem`` per mistake.

    Each accessor returns a usable value (or None) even after a mistake, so one pass
    finds every problem; call ``raise_if_problems()`` at the end.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._suggested = 0

    # --- positions and problems ---------------------------------------------------------
    def position(self, node: yaml.Node) -> Position:
        """The node's ``file:line:col``."""
        mark = node.start_mark
        return Position(self.file, mark.line + 1, mark.column + 1)

    def problem(self, node: yaml.Node | Position | None, message: str) -> None:
        """Record a problem at a node (or position; None means the top of the file)."""
        if node is None:
            pos = Position(self.file, 1, 1)
        elif isinstance(node, Position):
            pos = node
        else:
            pos = self.position(node)
        self.problems.append(Problem(pos.file, pos.line, pos.col, message))

    def raise_if_problems(self) -> None:
        """Raises:
        SpecError: if any problem was recorded.
        """
        if self.problems:
            raise SpecError(self.problems)

    # --- shapes -------------------------------------------------------------------------
    def mapping(
        self,
        node: yaml.Node | None,
        what: str,
        *,
        allowed: Sequence[str] | None = None,
        required: Sequence[str] = (),
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The entries of a mapping node as ``{key: (key_node, value_node)}``.

        Records duplicate keys, non-string keys, unknown keys (when ``allowed`` is given)
        and missing required keys. A null node is an empty mapping.
        """
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
            for key in required:
                self.problem(node, f"{what}: missing required key {key!r}")
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping, not {self._kind(node)}")
            return {}
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                self.problem(key_node, f"{what}: keys must be strings")
                continue
            key = str(key_node.value)
            if key in out:
                first = self.position(out[key][0])
                self.problem(
                    key_node, f"{what}: duplicate key {key!r} (first at line {first.line})"
                )
                continue
            if allowed is not None and key not in allowed:
                self.problem(
                    key_node,
                    f"{what}: unknown key {key!r}{_suggest(key, allowed)};"
                    f" expected one of: {', '.join(allowed)}",
                )
                continue
            out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.problem(node, f"{what}: missing required key {key!r}")
        return out

    def string(self, node: yaml.Node, what: str) -> str | None:
        """A plain string scalar (not a number, boolean or null)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            return str(node.value)
        self.problem(node, f"{what} must be a string, not {self._kind(node)}")
        return None

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        """A string or a list of strings, each with its node."""
        if isinstance(node, yaml.ScalarNode):
            value = self.string(node, what)
            return [] if value is None else [(value, node)]
        if not isinstance(node, yaml.SequenceNode):
            self.problem(node, f"{what} must be a string or a list of strings")
            return []
        out = []
        for item in node.value:
            value = self.string(item, f"each of {what}")
            if value is not None:
                out.append((value, item))
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        """The items of a list node."""
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.problem(node, f"{what} must be a list, not {self._kind(node)}")
        return []

    def boolean(self, node: yaml.Node, what: str) -> bool | None:
        """A true/false scalar."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
            return bool(_Loader("").construct_object(node))
        self.problem(node, f"{what} must be true or false, not {self._kind(node)}")
        return None

    def number(self, node: yaml.Node, what: str, *, positive: bool = False) -> float | None:
        """An int or float scalar (positive if asked)."""
        if isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG):
            value = float(_Loader("").construct_object(node))
            if positive and not value > 0:
                self.problem(node, f"{what} must be greater than 0, not {node.value}")
                return None
            return value
        self.problem(node, f"{what} must be a number, not {self._kind(node)}")
        return None

    def scalar(self, node: yaml.Node, what: str) -> Any:
        """Any scalar value (string, number, boolean or null), constructed."""
        if isinstance(node, yaml.ScalarNode):
            return _Loader("").construct_object(node)
        self.problem(node, f"{what} must be a single value, not {self._kind(node)}")
        return None

    def plain(self, node: yaml.Node) -> Any:
        """The node as plain Python data (mappings, lists, scalars)."""
        loader = _Loader("")
        return loader.construct_document(node)

    def choice(self, node: yaml.Node, what: str, choices: Sequence[str]) -> str | None:
        """A string that must be one of ``choices``."""
        value = self.string(node, what)
        if value is not None and value not in choices:
            self.problem(
                node,
                f"{what} must be one of {', '.join(choices)}, not {value!r}"
                f"{_suggest(value, choices)}",
            )
            return None
        return value

    def unknown_name(
        self,
        node: yaml.Node,
        kind: str,
        name: str,
        known: Iterable[str],
        *,
        where: str | None = None,
    ) -> None:
        """Record a reference to an undeclared name, with a suggestion (for the first
        ``MAX_SUGGESTIONS`` of them, among at most ``MAX_SUGGESTION_CHOICES`` names).

        ``where`` names what refers to it (``command 'hold' confirm``), as a prefix.
        """
        prefix = f"{where}: " if where else ""
        hint = ""
        if self._suggested < MAX_SUGGESTIONS:
            self._suggested += 1
            hint = _suggest(name, known)
        self.problem(node, f"{prefix}unknown {kind} {name!r}{hint}")

    @staticmethod
    def _kind(node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        tag = str(node.tag).rpartition(":")[2]
        names = {"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean"}
        if tag == "null":
            return "nothing (null)"
        return f"{names.get(tag, tag)} ({node.value!r})"
