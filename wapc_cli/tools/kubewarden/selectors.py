"""Kubernetes label and field selectors (``a=b,c!=d,e in (x,y),!f``), parsed and matched.

The grammar is the API server's (``k8s.io/apimachinery`` ``labels.Parse`` and
``fields.ParseSelector``): requirements separated by commas, all of which must
hold. Labels take ``=``, ``==``, ``!=``, ``in (...)``, ``notin (...)``, a bare
key (exists) and ``!key`` (does not exist); fields take ``=``, ``==`` and
``!=`` on a dotted path into the object (``metadata.name``, ``status.phase``).
A selector that does not parse is a :class:`SelectorError`, which the preset
turns into the failed host call a cluster's refusal would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

#: How long a selector may be (a guest sends it): longer ones are refused unparsed.
MAX_SELECTOR = 64 * 1024

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^()]*)\))?\s*$")

#: One requirement: (operator, key, values); operators ``=``, ``!=``, ``in``, ``notin``,
#: ``exists``, ``!exists``.
Requirement = tuple[str, str, frozenset[str]]


class SelectorError(ValueError):
    """A selector that does not parse."""


def _split(selector: str) -> list[str]:
    """Split at the commas outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    stripped = [part.strip() for part in parts]
    if any(stripped) and not all(stripped):  # `a=b,` or `a=b,,c`: the API server refuses
        raise SelectorError(f"unable to parse requirement: '{selector.strip()}'")
    return [part for part in stripped if part]


#: A label value: empty, or alphanumerics with ``-``, ``_``, ``.`` inside, at most 63.
_LABEL_VALUE_RE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9_./-]+$")


def _equality(part: str) -> tuple[str, str, str] | None:
    for operator in ("!=", "==", "="):
        key, sep, value = part.partition(operator)
        if sep:
            return key.strip(), operator, value.strip()
    return None


def label_selector(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    """A test of an object's ``metadata.labels`` against ``selector``."""
    if len(selector) > MAX_SELECTOR:
        raise SelectorError("label selector is too long")
    requirements: list[Requirement] = []
    for part in _split(selector):
        found = _SET_RE.match(part)
        if found is not None:
            negated, key, operator, values = found.groups()
            if negated and operator:
                raise SelectorError(f"unable to parse requirement: '{part}'")
            if operator:
                wanted = frozenset(v.strip() for v in values.split(",") if v.strip())
                if not wanted:
                    raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
                if not all(_LABEL_VALUE_RE.match(v) for v in wanted):
                    raise SelectorError(f"unable to parse requirement: '{part}'")
                requirements.append((operator, key, wanted))
            else:
                requirements.append(("!exists" if negated else "exists", key, frozenset()))
            continue
        equality = _equality(part)
        if equality is None or not equality[0]:
            raise SelectorError(f"unable to parse requirement: '{part}'")
        key, operator, value = equality
        if not _LABEL_KEY_RE.match(key) or not _LABEL_VALUE_RE.match(value):
            raise SelectorError(f"unable to parse requirement: '{part}'")  # e.g. `a=b=c`
        requirements.append(("!=" if operator == "!=" else "=", key, frozenset((value,))))

    def matches(resource: Mapping[str, Any]) -> bool:
        metadata = resource.get("metadata")
        labels = metadata.get("labels") if isinstance(metadata, dict) else None
        labels = labels if isinstance(labels, dict) else {}
        return all(_holds(requirement, labels.get(requirement[1]), requirement[1] in labels)
                   for requirement in requirements)

    return matches


def _field(resource: Any, path: str) -> str | None:
    value = resource
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def field_selector(selector: str) -> Callable[[Mapping[str, Any]], bool]:
    """A test of an object's fields against ``selector``."""
    if len(selector) > MAX_SELECTOR:
        raise SelectorError("field selector is too long")
    requirements: list[Requirement] = []
    for part in _split(selector):
        equality = _equality(part)
        if equality is None or not equality[0]:
            raise SelectorError(f"invalid selector: '{part}'; can't understand '{part}'")
        path, operator, value = equality
        requirements.append(("!=" if operator == "!=" else "=", path, frozenset((value,))))

    def matches(resource: Mapping[str, Any]) -> bool:
        for requirement in requirements:
            value = _field(resource, requirement[1])
            if not _holds(requirement, value, value is not None):
                return False
        return True

    return matches


def _holds(requirement: Requirement, value: Any, present: bool) -> bool:
    operator, _, values = requirement
    if operator == "exists":
        return present
    if operator == "!exists":
        return not present
    inside = present and value in values
    if operator in ("=", "in"):
        return inside
    return not inside  # != and notin: an object without the key matches too
