"""Numbers the WebAssembly core spec fixes, defined once for every layer above."""

from __future__ import annotations

#: Bytes in one page of linear memory (64 KiB).
PAGE = 65536
#: Most pages a 32-bit memory may have (4 GiB).
MAX_PAGES_32 = (1 << 32) // PAGE
#: Masks reducing a Python int to the bits of a wasm i32 / i64, read as unsigned.
U32_MASK = 0xFFFFFFFF
U64_MASK = 0xFFFFFFFFFFFFFFFF
