"""A module's debug info for its users: ``addr2line`` lookups and inspect's DWARF summary.

The reading is in :mod:`wapc_cli.wasm.dwarf` and :mod:`wapc_cli.wasm.symbols`
(bytes only); here are the results the commands show: :mod:`.lookup`
(offsets to functions and source lines) and :mod:`.summary` (what debug info
a module carries).
"""

from .lookup import AddressLookup, addr2line, dwarf_problem, parse_offset
from .summary import DebugInfo, debug_info

__all__ = [
    "AddressLookup", "DebugInfo", "addr2line", "debug_info", "dwarf_problem", "parse_offset",
]
