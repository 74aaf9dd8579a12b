"""Composing YAML with bounds: neither too deep, nor too large, nor a "billion laughs".

Three things can make a YAML document costly, and each has its own bound and
its own message:

- **nesting**: PyYAML composes recursively, several Python frames per level,
  so a table nested a few hundred levels deep would end in a ``RecursionError``
  (and every later walk of the value recurses too). At most :data:`MAX_DEPTH`
  levels, aliases included.
- **size**: every value becomes a node object; a file of ``[1,1,1,...]`` holds
  a value per two bytes. At most :data:`MAX_NODES` values as written, and at
  most :data:`MAX_TEXT_CHARS` characters.
- **aliases**: an alias costs nothing to compose (it is the node it names),
  but every use of the value -- a ``json:`` reply encoded, a ``when: {json:
  ...}`` compared -- walks each alias as a full copy: nine levels of ten
  aliases each are a billion nodes. At most :data:`MAX_ALIAS_VALUES` values
  added by expanding aliases, and no alias inside the value it names.

The composer here is not PyYAML's: it reads the parser's events (libyaml's C
parser when PyYAML has it, else PyYAML's own) and builds the same nodes
(tags resolved as ``SafeLoader`` does, marks kept) in one loop with an
explicit stack, counting as it goes. So time is linear in the size of the
text, with no Python recursion, and a bound stops composing at the node that
crossed it (:class:`YamlTooLarge`, with that node's mark). PyYAML's pure-Python
composer took ~44 s for a 20 MB kwctl session of 66,000 small exchanges
(and refused a slightly larger one as if it were an alias bomb); this takes
~2-3 s for the document (~7 s for the whole session load).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

#: How deeply mappings and lists may nest (aliases included), far more than a
#: table needs and few enough to stay clear of Python's recursion limit when
#: the value is later constructed or walked.
MAX_DEPTH = 100
#: How many values (mappings, lists and scalars, keys included) a document may
#: hold as written. Each costs ~380 bytes as a node, so this keeps a document
#: near a gigabyte at worst; a 20 MB kwctl session of the smallest exchanges
#: holds ~0.7 million, one of real kube Lists far fewer.
MAX_NODES = 3_000_000
#: How many values expanding the aliases (``*name``) may add, each alias counted
#: as a copy of the value it names.
MAX_ALIAS_VALUES = 1_000_000
#: The longest text composed (the callers' file limits are 64 MiB or less).
MAX_TEXT_CHARS = 64 << 20

#: The longest text PyYAML's own parser reads again after libyaml refused it (~1 s).
PURE_PYTHON_RETRY_CHARS = 1 << 20
#: Texts longer than this are composed with the cycle collector paused (see below).
PAUSE_COLLECTOR_ABOVE = 1 << 20

#: The libyaml-backed loader when PyYAML was built with it: the same events, ~20x faster.
_EVENT_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlTooLarge(Exception):
    """The document passed a bound; ``mark`` is where (None: the document as a whole)."""

    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark


class _Open:
    """A mapping or list being composed."""

    __slots__ = ("anchor", "children", "deepest", "depth", "key", "node", "values_before")

    def __init__(self, node: yaml.CollectionNode, anchor: str | None, depth: int,
                 values_before: int) -> None:
        self.node = node
        self.anchor = anchor
        self.depth = depth
        self.values_before = values_before  # values counted before this node opened
        self.deepest = depth  # the deepest level reached inside it so far
        self.key: yaml.Node | None = None  # a mapping's key waiting for its value
        self.children: list[Any] = []


class BoundedComposer:
    """Builds one document's node tree from parser events, within the bounds."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.composed = 0  # values as written
        self.alias_values = 0  # values added by expanding aliases
        self.anchors: dict[str, yaml.Node] = {}
        # anchor -> (expanded values, levels) of the finished value it names
        self.extent: dict[str, tuple[int, int]] = {}

    def compose_document(self) -> yaml.Node:
        """The next document's root node; the loader stands at its DocumentStartEvent."""
        get_event, resolve = self.loader.get_event, self.loader.resolve
        get_event()  # DocumentStartEvent
        stack: list[_Open] = []
        while True:
            event = get_event()
            kind = type(event)
            depth = len(stack) + 1
            deepest = depth
            done: yaml.Node
            if kind is yaml.ScalarEvent:
                self._count(depth, event.start_mark)
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(yaml.ScalarNode, event.value, event.implicit)
                done = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                       style=event.style or None)  # libyaml: "" for plain
                if event.anchor is not None:
                    self._anchor(event, done)
                    self.extent[event.anchor] = (1, 1)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._count(depth, event.start_mark)
                stack.append(self._open(event, depth))
                continue
            elif kind is yaml.AliasEvent:
                done, deepest = self._alias(event, depth)
            else:  # the innermost mapping or list ends
                closed = stack.pop()
                done, deepest = closed.node, closed.deepest
                done.value = closed.children
                done.end_mark = event.end_mark
                if closed.anchor is not None:
                    self.extent[closed.anchor] = (
                        self.composed + self.alias_values - closed.values_before,
                        deepest - closed.depth + 1)
            if not stack:
                break
            parent = stack[-1]
            if deepest > parent.deepest:
                parent.deepest = deepest
            if parent.key is not None:
                parent.children.append((parent.key, done))
                parent.key = None
            elif type(parent.node) is yaml.MappingNode:
                parent.key = done
            else:
                parent.children.append(done)
        get_event()  # DocumentEndEvent
        return done

    def _open(self, event: Any, depth: int) -> _Open:
        node: yaml.CollectionNode
        tag, mark = event.tag, event.start_mark  # libyaml's marks are its own Mark type
        if type(event) is yaml.SequenceStartEvent:
            if tag is None or tag == "!":
                tag = self.loader.resolve(yaml.SequenceNode, None, event.implicit)
            node = yaml.SequenceNode(tag, [], mark, None, flow_style=event.flow_style)
        else:
            if tag is None or tag == "!":
                tag = self.loader.resolve(yaml.MappingNode, None, event.implicit)
            node = yaml.MappingNode(tag, [], mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self._anchor(event, node)
        return _Open(node, event.anchor, depth, self.composed + self.alias_values - 1)

    def _anchor(self, event: Any, node: yaml.Node) -> None:
        anchor = event.anchor
        if anchor in self.anchors:
            raise yaml.composer.ComposerError(
                f"found duplicate anchor {anchor!r}; first occurrence",
                self.anchors[anchor].start_mark, "second occurrence", event.start_mark)
        self.anchors[anchor] = node

    def _alias(self, event: Any, depth: int) -> tuple[yaml.Node, int]:
        anchor = event.anchor
        if anchor not in self.anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {anchor!r}", event.start_mark)
        if anchor not in self.extent:  # named, but not finished: it holds itself
            raise YamlTooLarge(f"the alias *{anchor} is inside the value it names "
                               "(a value cannot contain itself)", event.start_mark)
        values, levels = self.extent[anchor]
        deepest = depth - 1 + levels
        if deepest > MAX_DEPTH:
            raise YamlTooLarge(f"nested deeper than {MAX_DEPTH} levels once the alias "
                               f"*{anchor} is expanded", event.start_mark)
        self.alias_values += values
        if self.alias_values > MAX_ALIAS_VALUES:
            raise YamlTooLarge(f"more than {MAX_ALIAS_VALUES} values once every alias "
                               "(*name) is expanded", event.start_mark)
        return self.anchors[anchor], deepest

    def _count(self, depth: int, mark: Any) -> None:
        self.composed += 1
        if depth > MAX_DEPTH:
            raise YamlTooLarge(f"nested deeper than {MAX_DEPTH} levels", mark)
        if self.composed > MAX_NODES:
            raise YamlTooLarge(f"more than {MAX_NODES} values (mappings, lists and "
                               "scalars); the document is too large to load", mark)


def compose_bounded(text: str) -> yaml.Node | None:
    """The document's root node, or None for an empty document (like ``yaml.compose``).

    PyYAML's errors (``yaml.YAMLError``) pass through; a bound crossed is
    :class:`YamlTooLarge`. A text libyaml refuses is read again by PyYAML's own
    parser when it is small: PyYAML accepts a little more (``"\\ud800"``, a lone
    surrogate escape) and its messages are the ones wapc has always shown.
    """
    if len(text) > MAX_TEXT_CHARS:
        raise YamlTooLarge(f"the document is longer than {MAX_TEXT_CHARS >> 20} Mi "
                           "characters", None)
    try:
        return _compose(text, _EVENT_LOADER)
    except yaml.YAMLError:
        if _EVENT_LOADER is yaml.SafeLoader or len(text) > PURE_PYTHON_RETRY_CHARS:
            raise
    return _compose(text, yaml.SafeLoader)


def _compose(text: str, loader_type: type[Any]) -> yaml.Node | None:
    loader = loader_type(text)
    with collector_paused(len(text) > PAUSE_COLLECTOR_ABOVE):
        try:
            loader.get_event()  # StreamStartEvent
            document: yaml.Node | None = None
            if not loader.check_event(yaml.StreamEndEvent):
                document = BoundedComposer(loader).compose_document()
            if not loader.check_event(yaml.StreamEndEvent):
                event = loader.get_event()
                raise yaml.composer.ComposerError(
                    "expected a single document in the stream",
                    document.start_mark if document is not None else None,
                    "but found another document", event.start_mark)
            return document
        finally:
            loader.dispose()


@contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """Python's cycle collector paused (``pause``) while composing, or while walking
    a large document's nodes (:mod:`..kubewarden.session`).

    A document of a million values allocates millions of objects, none in a
    cycle, and the collector would walk all of them again and again: it more
    than doubled the time of a 20 MB file. The nodes hold no cycles (an alias
    inside its own value is refused), so nothing is left for it to find. Only
    for large texts: resuming it costs a collection, which thousands of small
    documents (the requests inside a session file) would each pay.
    """
    was_enabled = pause and gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
