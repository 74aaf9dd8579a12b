"""Composing YAML with bounds: a table can be neither too deep nor a "billion laughs".

PyYAML composes a document recursively, several Python frames per level, so a
table nested a few hundred levels deep would end in a ``RecursionError``. And
aliases cost nothing to compose (an alias is the node it names), but every
use of the value -- a ``json:`` reply encoded, a ``when: {json: ...}`` compared
-- walks each alias as a full copy: nine levels of ten aliases each are a
billion nodes. :class:`BoundedLoader` counts, while composing, how deep the
document goes and how many nodes it has with every alias counted as a copy,
and stops with :class:`YamlTooLarge` (at the node that crossed the bound)
before either becomes a problem.
"""

from __future__ import annotations

from typing import Any

import yaml

#: How deeply mappings and lists may nest (aliases included), far more than a
#: table needs and few enough to stay clear of Python's recursion limit.
MAX_DEPTH = 100
#: How many nodes a document may have, each alias counted as a copy of its value.
MAX_NODES = 1_000_000


class YamlTooLarge(Exception):
    """The document passed a bound; ``mark`` is where."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose ``compose_node`` keeps the depth and the expanded node count."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.deepest = 0  # the deepest level reached inside the node being composed
        self.expanded = 0  # nodes so far, each alias counted as a copy of its value
        # anchor -> (expanded nodes, levels) of the value it names
        self.extent: dict[str, tuple[int, int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self.extent:
                nodes, levels = self.extent[event.anchor]
                self._grow(nodes, self.depth + levels, event.start_mark)
            elif event.anchor in self.anchors:  # named, but not finished: it holds itself
                raise YamlTooLarge(
                    f"the alias *{event.anchor} is inside the value it names "
                    "(a value cannot contain itself)", event.start_mark,
                )
            return super().compose_node(parent, index)  # an unknown anchor: PyYAML says so
        anchor = getattr(event, "anchor", None)
        self.depth += 1
        start, outer_deepest = self.expanded, self.deepest
        self.deepest = self.depth
        self._grow(1, self.depth, event.start_mark)
        node = super().compose_node(parent, index)
        if anchor is not None:
            self.extent[anchor] = (self.expanded - start, self.deepest - self.depth + 1)
        self.deepest = max(outer_deepest, self.deepest)
        self.depth -= 1
        return node

    def _grow(self, nodes: int, depth: int, mark: Any) -> None:
        self.expanded += nodes
        self.deepest = max(self.deepest, depth)
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"nested deeper than {MAX_DEPTH} levels", mark)
        if self.expanded > MAX_NODES:
            raise YamlTooLarge(
                f"more than {MAX_NODES} values once every alias (*name) is expanded", mark
            )


def compose_bounded(text: str) -> yaml.Node | None:
    """The document's root node, or None for an empty document (like ``yaml.compose``)."""
    loader = BoundedLoader(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        return node
    finally:
        loader.dispose()
