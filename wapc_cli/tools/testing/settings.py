"""A suite's and a case's run settings: ``timeout``, ``fuel``, ``max_memory``, ``wasi``, ``host``.

A suite sets defaults; a case overrides them key by key (``wasi``: ``args``,
``env`` and ``dirs`` each replace the suite's when given). Checked here as
the limit flags are checked, with the same largest values, but each problem
is reported at the suite's line and column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

import yaml

from ...engines.base import MAX_FUEL, Limits
from ...runtime.limits import DEFAULT_TIMEOUT_S
from ...runtime.profiles import PROFILE_NAMES
from ...runtime.wasi_options import DirGrant
from ..stubs.source import Node, Source

SETTING_KEYS = ("timeout", "fuel", "max_memory", "wasi", "host")
WASI_KEYS = ("args", "env", "dirs")
DIR_KEYS = ("host", "guest", "writable")
#: The longest timeout accepted (30 days), as for the timeout limit of a call.
MAX_TIMEOUT_S = 30 * 24 * 3600.0
#: The most a 32-bit memory can hold.
MAX_MEMORY_BYTES = 4 * 1024**3
_UNITS = {
    "": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
    "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
}


@dataclass(frozen=True)
class Settings:
    #: None: no time limit (``timeout: none``); by default a case has 30 seconds.
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    fuel: int | None = None
    max_memory: int | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    dirs: tuple[DirGrant, ...] = ()
    #: The host profile the case runs under (wapc_cli.runtime.profiles), by name.
    host: str = "wapc"

    def limits(self) -> Limits:
        return Limits(max_memory_bytes=self.max_memory, fuel=self.fuel, timeout_s=self.timeout_s)


def parse_settings(
    source: Source, entries: dict[str, tuple[Node, Node]], defaults: Settings, what: str
) -> Settings:
    """``defaults`` with whatever of ``timeout``/``fuel``/``max_memory``/``wasi`` is given."""
    changes: dict[str, Any] = {}
    if "timeout" in entries:
        changes["timeout_s"] = _timeout(source, entries["timeout"][1], f"{what}.timeout")
    if "fuel" in entries:
        node = entries["fuel"][1]
        fuel = source.integer(node, f"{what}.fuel", minimum=1)
        if fuel is not None and fuel > MAX_FUEL:
            source.problem(node, f"{what}.fuel: more than the maximum of {MAX_FUEL} (2**64-1)")
            fuel = None
        changes["fuel"] = fuel
    if "max_memory" in entries:
        changes["max_memory"] = _size(source, entries["max_memory"][1], f"{what}.max_memory")
    if "wasi" in entries:
        changes.update(_wasi(source, entries["wasi"][1], f"{what}.wasi"))
    if "host" in entries:
        node = entries["host"][1]
        host = source.string(node, f"{what}.host")
        if host is not None and host not in PROFILE_NAMES:
            source.problem(node, f"{what}.host: unknown host profile '{host}' (choose from: "
                                 f"{', '.join(PROFILE_NAMES)})")
        elif host is not None:
            changes["host"] = host
    return replace(defaults, **changes)


def _timeout(source: Source, node: Node, what: str) -> float | None:
    if isinstance(node, yaml.ScalarNode) and (
        node.tag.endswith(":null") or str(node.value).lower() in ("none", "off")
    ):
        return None
    value = source.number(node, what, maximum=MAX_TIMEOUT_S)
    if value is not None and value <= 0:
        source.problem(node, f"{what}: must be greater than zero seconds (or none)")
        return None
    return value


def _size(source: Source, node: Node, what: str) -> int | None:
    """A memory size: a whole number of bytes, or text such as ``64KiB``, ``16MiB``."""
    value = source.value(node) if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, int) and not isinstance(value, bool):
        number = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value or ""))
        unit = match.group(2).lower() if match else ""
        if not isinstance(value, str) or not match or unit not in _UNITS:
            source.problem(node, f"{what}: expected a size (65536, 64KiB, 16MiB, 1GiB), "
                                 f"got {source.kind_of(node)}")
            return None
        number = float(match.group(1)) * _UNITS[unit]
    if not math.isfinite(number) or number > MAX_MEMORY_BYTES or number < 1:
        source.problem(node, f"{what}: must be between 1 byte and 4GiB (a 32-bit memory)")
        return None
    return int(number)


def _wasi(source: Source, node: Node, what: str) -> dict[str, Any]:
    entries = source.mapping(node, what)
    if entries is None:
        return {}
    source.only_keys(entries, WASI_KEYS, what)
    changes: dict[str, Any] = {}
    if "args" in entries:
        changes["args"] = tuple(_strings(source, entries["args"][1], f"{what}.args"))
    if "env" in entries:
        env_node = entries["env"][1]
        env = source.mapping(env_node, f"{what}.env") or {}
        pairs = []
        for key, (_, value_node) in env.items():
            value = source.string(value_node, f"{what}.env.{key}")
            if value is not None:
                pairs.append((key, value))
        changes["env"] = tuple(pairs)
    if "dirs" in entries:
        changes["dirs"] = _dirs(source, entries["dirs"][1], f"{what}.dirs")
    return changes


def _strings(source: Source, node: Node, what: str) -> list[str]:
    if not isinstance(node, yaml.SequenceNode):
        source.problem(node, f"{what}: expected a list of strings, got {source.kind_of(node)}")
        return []
    return [text for item in node.value if (text := source.string(item, what)) is not None]


def _dirs(source: Source, node: Node, what: str) -> tuple[DirGrant, ...]:
    """Each grant: ``HOST[:/GUEST]`` or ``{host, guest, writable}``; HOST relative to the suite."""
    if not isinstance(node, yaml.SequenceNode):
        source.problem(node, f"{what}: expected a list of directory grants, got "
                             f"{source.kind_of(node)}")
        return ()
    grants = []
    for index, item in enumerate(node.value):
        where = f"{what}[{index}]"
        writable = False
        if isinstance(item, yaml.MappingNode):
            entries = source.mapping(item, where) or {}
            source.only_keys(entries, DIR_KEYS, where)
            if "host" not in entries:
                source.problem(item, f"{where}: missing 'host' (a folder, relative to the suite)")
                continue
            host = source.string(entries["host"][1], f"{where}.host")
            guest = source.string(entries["guest"][1], f"{where}.guest") if "guest" in entries \
                else host
            if "writable" in entries:
                flag = source.value(entries["writable"][1])
                if not isinstance(flag, bool):
                    source.problem(entries["writable"][1], f"{where}.writable: expected true/false")
                    continue
                writable = flag
        else:
            text = source.string(item, where)
            if text is None:
                continue
            host, sep, guest = text.rpartition(":")
            if not sep or not guest.startswith("/"):
                host, guest = text, text
        if host is None or guest is None:
            continue
        folder = source.base_dir / host
        if not host or not folder.is_dir():
            source.problem(item, f"{where}: '{folder}' is not a directory")
            continue
        grants.append(DirGrant(str(folder), guest, writable))
    return tuple(grants)
