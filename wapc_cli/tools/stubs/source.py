"""Reading YAML as marked nodes, so every problem can name ``file:line:column``.

PyYAML's ``compose`` keeps each node's start mark; the loader walks those nodes
instead of plain Python values, and collects problems rather than stopping at
the first, so ``wapc stubs check`` can list them all.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ...errors import InputFileError
from ...runtime.confined_files import ConfinedFileError, read_confined_file
from .bounded_yaml import YamlTooLarge, compose_bounded

Node = yaml.Node


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class StubTableError(InputFileError):
    """A stub table (or seed file) is not valid; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem]) -> None:
        problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        first = str(problems[0])
        more = len(problems) - 1
        if more:
            first += f" (and {more} more problem{'s' if more > 1 else ''}; see `wapc stubs check`)"
        super().__init__(first)
        self.problems = problems


class Source:
    """One YAML file being loaded: its name, its folder, and the problems found so far.

    ``quote_values=False`` is for a file a table names (a ``kvstore:`` seed):
    its problems then say what was expected and where, never what the file
    holds, so a table cannot turn wapc into a reader of other files.
    """

    def __init__(self, path: Path, display: str | None = None, quote_values: bool = True) -> None:
        self.path = path
        self.display = display or str(path)
        self.base_dir = path.parent
        self.quote_values = quote_values
        self.problems: list[Problem] = []

    # -- reporting ---------------------------------------------------------------
    def problem(self, node: Node | None, message: str) -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.problems.append(Problem(self.display, line, column, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise StubTableError(self.problems)

    # -- parsing -----------------------------------------------------------------
    def compose(self, text: str) -> Node | None:
        try:
            return compose_bounded(text)
        except YamlTooLarge as exc:
            self._problem_at(exc.mark, f"YAML: {exc.message}")
        except RecursionError:  # a safety net: the depth bound stops well before this
            self._problem_at(None, "YAML: nested too deeply")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = str(exc.problem or exc.context or "invalid YAML")
            if exc.context and exc.problem:
                where = exc.context_mark
                at = f" at {where.line + 1}:{where.column + 1}" if where else ""
                what += f" ({exc.context}{at})"
            if not self.quote_values:  # PyYAML's wording quotes the characters it found
                what = "not valid YAML here"
            self._problem_at(mark, f"YAML syntax: {what}")
        except yaml.YAMLError as exc:
            self._problem_at(None, f"YAML: {exc}" if self.quote_values else "YAML: not valid")
        return None

    def _problem_at(self, mark: Any, message: str) -> None:
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        self.problems.append(Problem(self.display, line, column, message))

    # -- typed access to nodes ---------------------------------------------------
    def mapping(self, node: Node, what: str) -> dict[str, tuple[Node, Node]] | None:
        """A mapping's entries by key (key node kept for marks); None after a problem."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what}: expected a mapping, got {self.kind_of(node)}")
            return None
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":str")):
                self.problem(key_node, f"{what}: keys must be strings")
                continue
            key = str(key_node.value)
            if key in entries:
                shown = f" '{key}'" if self.quote_values else ""
                self.problem(key_node, f"{what}: duplicate key{shown}")
                continue
            entries[key] = (key_node, value_node)
        return entries

    def only_keys(
        self, entries: dict[str, tuple[Node, Node]], allowed: Iterable[str], what: str
    ) -> bool:
        allowed = list(allowed)
        ok = True
        for key, (key_node, _) in entries.items():
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                shown = f" '{key}'{hint}" if self.quote_values else ""
                self.problem(
                    key_node,
                    f"{what}: unknown key{shown}; expected one of: {', '.join(allowed)}",
                )
                ok = False
        return ok

    def string(self, node: Node, what: str) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":str"):
            return str(node.value)
        self.problem(node, f"{what}: expected a string, got {self.kind_of(node)}")
        return None

    def integer(self, node: Node, what: str, minimum: int = 0) -> int | None:
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(node, f"{what}: expected a whole number, got {self.kind_of(node)}")
            return None
        if value < minimum:
            self.problem(node, f"{what}: expected a number >= {minimum}, got {value}")
            return None
        return value

    def number(
        self, node: Node, what: str, minimum: float = 0.0, maximum: float | None = None
    ) -> float | None:
        """A finite number in ``[minimum, maximum]``; ``.nan`` and ``.inf`` are refused."""
        value = self.value(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(node, f"{what}: expected a number, got {self.kind_of(node)}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(node, f"{what}: expected a finite number, got {node.value}")
            return None
        if value < minimum:
            self.problem(node, f"{what}: expected a number >= {minimum:g}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.problem(node, f"{what}: expected a number <= {maximum:g}, got {value}")
            return None
        return float(value)

    def value(self, node: Node) -> Any:
        """The plain Python value of a node (for json:/msgpack: payloads)."""
        loader = yaml.SafeLoader("")
        try:
            return loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:  # e.g. an unknown !tag: one line, not PyYAML's three
            what = str(exc.problem or exc.context or "invalid value")
            self._problem_at(exc.problem_mark or node.start_mark,
                             f"cannot read this value: {what if self.quote_values else 'invalid'}")
            return None
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) and self.quote_values else "invalid"
            self.problem(node, f"cannot read this value: {first}")
            return None
        finally:
            loader.dispose()

    def relative_file(self, node: Node, name: str, what: str) -> bytes | None:
        """Read a file named in the table: a regular file inside the table's own folder."""
        try:
            return read_confined_file(self.base_dir, name, folder_is="the stub table's folder")
        except ConfinedFileError as exc:
            self.problem(node, f"{what}: {exc}")
        return None

    def kind_of(self, node: Node) -> str:
        """What a node is, for messages; quoting its value only when this file may be quoted."""
        if self.quote_values or not isinstance(node, yaml.ScalarNode):
            return kind_of(node)
        tag = node.tag.rsplit(":", 1)[-1]
        names = {"str": "a string", "int": "a number", "float": "a number", "bool": "true/false",
                 "null": "nothing (null)"}
        return names.get(tag, "a value")


def kind_of(node: Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    tag = node.tag.rsplit(":", 1)[-1]
    if tag == "null":
        return "nothing (null)"
    names = {"str": "a string", "int": "a number", "float": "a number", "bool": "true/false"}
    if tag == "str":
        return f"the string {node.value!r}"
    return f"{names.get(tag, tag)} ({node.value!r})"
