"""A stub table's ``tarmac:`` block -> :class:`TarmacOptions`, problems at ``file:line:column``.

::

    preset: tarmac
    tarmac:
      sql: sqlite:///app.db          # the SQL capability's database (default: in memory)
      kvstore: redis://localhost:6379 # the kvstore's backend (default: in memory)
      allow_http: [api.example.com:443, "127.0.0.1"]
      functions: {greet: greet.wasm}  # function:NAME -> module, relative to this table
      config: tarmac.json             # Tarmac's own config (routes of type function)

Module and config paths are relative to the table's folder. The DSNs are checked
when the run opens them (a bad one stops the run with one line, exit 2).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ...errors import InputFileError, UsageError
from ..tarmac.options import TarmacOptions
from .source import Node, Source

TARMAC_KEYS = ("sql", "kvstore", "allow_http", "functions", "config")


def parse_tarmac_block(source: Source, node: Node) -> TarmacOptions | None:
    """The block's options (None when it has problems: they went to ``source``)."""
    from ..tarmac.config import load_tarmac_config, parse_function_grant
    from ..tarmac.http import check_grant

    entries = source.mapping(node, "tarmac")
    if entries is None:
        return None
    before = len(source.problems)
    source.only_keys(entries, TARMAC_KEYS, "tarmac")
    dsns: dict[str, str | None] = {"sql": None, "kvstore": None}
    for key in dsns:
        if key in entries:
            value = source.string(entries[key][1], f"tarmac.{key}")
            if value is not None and not value.strip():
                source.problem(entries[key][1], f"tarmac.{key}: expected a DSN, got ''")
            dsns[key] = value
    grants: list[str] = []
    if "allow_http" in entries:
        value_node = entries["allow_http"][1]
        items = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        for index, item in enumerate(items):
            where = f"tarmac.allow_http[{index}]"
            text = source.string(item, where)
            if text is None:
                continue
            try:
                grants.append(check_grant(text))
            except ValueError as exc:
                source.problem(item, f"{where}: {exc}")
    functions: dict[str, Path] = {}
    if "functions" in entries:
        mapping = source.mapping(entries["functions"][1], "tarmac.functions")
        for name, (key_node, value_node) in (mapping or {}).items():
            where = f"tarmac.functions.{name}"
            module = source.string(value_node, where)
            if module is None:
                continue
            try:
                functions.update([parse_function_grant(f"{name}={module}", source.base_dir)])
            except UsageError as exc:
                source.problem(value_node if module else key_node, f"{where}: {exc}")
    config = None
    if "config" in entries:
        value_node = entries["config"][1]
        file_name = source.string(value_node, "tarmac.config")
        if file_name is not None:
            config = source.base_dir / file_name
            try:
                load_tarmac_config(config)  # checked now: `wapc stubs check` reports it too
            except InputFileError as exc:
                source.problem(value_node, f"tarmac.config: {exc}")
    if len(source.problems) > before:
        return None
    return TarmacOptions(sql=dsns["sql"], kvstore=dsns["kvstore"], allow_http=tuple(grants),
                         functions=functions, config=config)
