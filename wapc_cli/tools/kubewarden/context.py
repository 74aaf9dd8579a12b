"""A Kubernetes cluster as a file: the resources get/list answer from, the allow-list, ``can_i``.

The file (YAML or JSON) is one of:

- a list of resources (each with ``apiVersion``, ``kind``, ``metadata.name``);
- a kube ``List`` (``kind: List``, ``items: [...]``), as ``kubectl get -o yaml`` writes;
- a mapping ``{resources: [...], allow: [{apiVersion, kind}, ...], can_i: [...]}``.

``allow`` is the policy's context-aware allow-list. Without one, the policy's
own metadata decides, as in Kubewarden (its ``io.kubewarden.metadata``
section's ``contextAwareResources``, :func:`with_policy_grants`); a policy
without metadata may read every ``apiVersion``/``kind`` the file holds. ``can_i`` rules answer
``kubernetes/can_i`` in order, the first that matches winning: each names any
of ``user``, ``group`` (a group the subject is in), ``verb``, ``resource``,
``api_group``, ``namespace``, ``name``, ``subresource`` (``*`` or absent:
anything) and says ``allowed`` (and optionally ``reason``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ...errors import InputFileError
from ...runtime.payload import read_user_file
from ..stubs.source import Source

#: The largest context file read (a cluster dump of a few thousand objects fits).
MAX_CONTEXT_BYTES = 64 << 20
CAN_I_KEYS = ("user", "group", "verb", "resource", "api_group", "namespace", "name",
              "subresource")


@dataclass(frozen=True)
class CanIRule:
    """One ``can_i`` rule: what it matches (absent or ``*``: anything) and its answer."""

    match: dict[str, str]
    allowed: bool
    reason: str | None = None

    def matches(self, user: str, groups: list[str], attributes: Mapping[str, Any]) -> bool:
        for key, wanted in self.match.items():
            if wanted == "*":
                continue
            if key == "user":
                if user != wanted:
                    return False
            elif key == "group":
                if wanted not in groups:
                    return False
            else:
                attribute = "group" if key == "api_group" else key
                if str(attributes.get(attribute) or "") != wanted:
                    return False
        return True


@dataclass(frozen=True)
class K8sContext:
    """The resources of a cluster, the kinds a policy may read, and ``can_i``'s answers."""

    path: str = ""
    resources: tuple[dict[str, Any], ...] = ()
    allow: frozenset[tuple[str, str]] | None = None  # None: every kind of ``resources``
    can_i: tuple[CanIRule, ...] = field(default_factory=tuple)

    def allowed(self, api_version: str, kind: str) -> bool:
        granted = self.allow
        if granted is None:
            granted = frozenset((str(r.get("apiVersion")), str(r.get("kind")))
                                for r in self.resources)
        return (api_version, kind) in granted

    def of_kind(self, api_version: str, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.resources
                if r.get("apiVersion") == api_version and r.get("kind") == kind]


def _name(resource: Mapping[str, Any], key: str) -> Any:
    metadata = resource.get("metadata")
    return metadata.get(key) if isinstance(metadata, dict) else None


def resource_name(resource: Mapping[str, Any]) -> Any:
    return _name(resource, "name")


def resource_namespace(resource: Mapping[str, Any]) -> Any:
    return _name(resource, "namespace")


def load_context(path: Path) -> K8sContext:
    """Read a context file; a problem raises StubTableError at ``file:line:column``."""
    source = Source(path)
    data = read_user_file(str(path), "Kubernetes context", max_bytes=MAX_CONTEXT_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: Kubernetes context is not UTF-8 text "
                             f"(bad byte at offset {exc.start})") from None
    value = _json_value(text)
    if value is _NOT_JSON:  # YAML (or JSON with a mistake: YAML says where)
        root = source.compose(text)
        value = source.value(root) if root is not None else None
    context = _context(source, value) if not source.problems else None
    if source.problems:  # the first, without the stub tables' pointer at `wapc stubs check`
        first, more = sorted(source.problems, key=lambda p: (p.line, p.column))[0], \
            len(source.problems) - 1
        raise InputFileError(f"{first}" + (f" (and {more} more problem{'s' * (more > 1)})"
                                           if more else ""))
    assert context is not None
    return context


_NOT_JSON = object()


def _json_value(text: str) -> Any:
    """The file as JSON (``kubectl get -o json``), when it is: read at JSON speed, where
    YAML would take seconds per megabyte; the byte limit bounds it."""
    if text.lstrip()[:1] not in ("[", "{"):
        return _NOT_JSON
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _context(source: Source, value: Any) -> K8sContext | None:
    allow_value: Any = None
    can_i_value: Any = None
    if isinstance(value, dict) and value.get("kind") == "List":
        items = value.get("items")
    elif isinstance(value, dict):
        unknown = sorted(set(value) - {"resources", "allow", "can_i"})
        if unknown:
            source.problem(None, f"unknown key '{unknown[0]}' (expected resources, allow, can_i)")
            return None
        items, allow_value, can_i_value = (value.get("resources") or [], value.get("allow"),
                                           value.get("can_i"))
    else:
        items = value
    if items is None:
        items = []
    if not isinstance(items, list):
        source.problem(None, "expected a list of Kubernetes resources")
        return None
    resources = []
    for index, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("apiVersion"), str)
                and isinstance(item.get("kind"), str)
                and isinstance(resource_name(item), str)):
            source.problem(None, f"resource #{index + 1}: needs apiVersion, kind and "
                                 "metadata.name (strings)")
            continue
        resources.append(item)
    allow = _allow(source, allow_value) if allow_value is not None else None
    can_i = _can_i(source, can_i_value) if can_i_value is not None else ()
    if source.problems:
        return None
    return K8sContext(str(source.path), tuple(resources), allow, can_i)


def _allow(source: Source, value: Any) -> frozenset[tuple[str, str]] | None:
    if not isinstance(value, list):
        source.problem(None, "allow: expected a list of {apiVersion, kind}")
        return None
    granted = set()
    for index, item in enumerate(value):
        if not (isinstance(item, dict) and isinstance(item.get("apiVersion"), str)
                and isinstance(item.get("kind"), str)):
            source.problem(None, f"allow[{index}]: expected {{apiVersion, kind}} (strings)")
            continue
        granted.add((item["apiVersion"], item["kind"]))
    return frozenset(granted)


def _can_i(source: Source, value: Any) -> tuple[CanIRule, ...]:
    if not isinstance(value, list):
        source.problem(None, "can_i: expected a list of rules")
        return ()
    rules = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("allowed"), bool):
            source.problem(None, f"can_i[{index}]: expected a mapping with allowed: true|false")
            continue
        unknown = sorted(set(item) - {*CAN_I_KEYS, "allowed", "reason"})
        if unknown:
            source.problem(None, f"can_i[{index}]: unknown key '{unknown[0]}' "
                                 f"(expected {', '.join(CAN_I_KEYS)}, allowed, reason)")
            continue
        match = {k: str(item[k]) for k in CAN_I_KEYS if item.get(k) is not None}
        reason = item.get("reason")
        rules.append(CanIRule(match, item["allowed"], None if reason is None else str(reason)))
    return tuple(rules)


def policy_grants(module: Path) -> frozenset[tuple[str, str]] | None:
    """The ``contextAwareResources`` of a policy's embedded metadata; None without metadata
    (or when the module cannot be read: loading it reports that, not this)."""
    from ...wasm.parse import WasmParseError, parse_module
    from ..inspect.claims import kubewarden_metadata

    try:
        data = module.read_bytes()
        metadata = kubewarden_metadata(parse_module(data), data)
    except (OSError, WasmParseError):
        return None
    if metadata is None or not metadata.get("valid"):
        return None
    return frozenset((str(r.get("apiVersion")), str(r.get("kind")))
                     for r in metadata["context_aware_resources"] if isinstance(r, dict))


def with_policy_grants(context: K8sContext, module: Path | None) -> K8sContext:
    """``context`` with the policy's own allow-list when the file names none."""
    if context.allow is not None or module is None:
        return context
    grants = policy_grants(module)
    return context if grants is None else replace(context, allow=grants)
