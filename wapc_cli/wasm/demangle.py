"""Rust and C++ symbol names made readable, with maintained pure-Python demanglers.

Only a name that looks mangled loads a demangler (``_R``/``_ZN...E``: Rust,
rust-demangler; ``_Z``: C++ Itanium, itanium-demangler), so a C guest's names
cost a prefix test. A name a demangler cannot read is returned as it is.
"""

from __future__ import annotations

import functools
import re

#: The hash a legacy Rust symbol ends with (``::h0123456789abcdef``): noise in a frame.
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")
_LEGACY_RUST = re.compile(r"17h[0-9a-f]{16}E$")
_MAX_NAME = 4096


@functools.lru_cache(maxsize=1024)
def demangle(name: str) -> str:
    """``name`` demangled when it is a Rust or C++ symbol, else unchanged."""
    if len(name) > _MAX_NAME:
        return name
    if "::" in name and _RUST_HASH.search(name):
        # Demangled already, hash and all (wasmer names frames so): the same name as ours.
        return _RUST_HASH.sub("", name)
    symbol = name[1:] if name.startswith("__Z") else name  # Mach-O style extra underscore
    try:
        if symbol.startswith("_R") or (symbol.startswith("_ZN") and _is_legacy_rust(symbol)):
            import rust_demangler

            return _RUST_HASH.sub("", str(rust_demangler.demangle(symbol)))
        if symbol.startswith("_Z"):
            import itanium_demangler

            parsed = itanium_demangler.parse(symbol)
            return name if parsed is None else str(parsed)
    except Exception:  # a demangler's failure on a name it cannot read: keep the name
        return name
    return name


def _is_legacy_rust(symbol: str) -> bool:
    """A legacy Rust symbol: Itanium-shaped, its last path element the hash ``17h<16 hex>``."""
    return _LEGACY_RUST.search(symbol) is not None
