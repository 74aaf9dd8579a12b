"""The engine contract: the only surface the protocol core needs from a runtime.

An engine compiles bytes, instantiates a module against host functions the core
supplies, and runs exports. It never interprets the waPC protocol: it moves
integers in and out of functions and bytes in and out of linear memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

ValType = str  # "i32" | "i64" | "f32" | "f64" | other engine-specific names


# The value classes on the call path are NamedTuples, not dataclasses: importing
# dataclasses (it imports inspect, ast, dis, tokenize) and building a dozen of
# them took ~15 ms of a one-shot `wapc call`; typing, which wasmtime imports
# anyway, builds a NamedTuple in ~0.05 ms.


class FuncSig(NamedTuple):
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


class ImportDecl(NamedTuple):
    module: str
    name: str
    kind: str  # "func" | "memory" | "table" | "global" | "tag"
    sig: FuncSig | None = None


class ExportDecl(NamedTuple):
    name: str
    kind: str
    sig: FuncSig | None = None


HostFn = Callable[..., "int | None"]


class Limits(NamedTuple):
    """Resource limits for one instance; ``None`` means unlimited."""

    max_memory_bytes: int | None = None
    fuel: int | None = None
    timeout_s: float | None = None


class EngineTrapInfo(NamedTuple):
    """What an engine tells about a trap, normalised."""

    message: str
    frames: tuple[str, ...] = ()
    kind: str = "trap"  # "trap" | "fuel" | "timeout" | "stack" | "memory"


class EngineTrap(Exception):
    """Raised by an adapter when guest code trapped (engine-side cause)."""

    def __init__(self, info: EngineTrapInfo) -> None:
        super().__init__(info.message)
        self.info = info


class GuestMemory(Protocol):
    """Linear memory of one instance. The core bounds-checks before calling."""

    def size(self) -> int: ...

    def read(self, ptr: int, length: int) -> bytes: ...

    def write(self, ptr: int, data: bytes) -> None: ...


class ViewMemory(GuestMemory, Protocol):
    """A memory that can also lend a memoryview of itself (wasmtime's fast path).

    ``view()`` covers memory from address 0 to its current size. Its base never
    moves (the engine is configured so that memory may not move), so a view
    stays valid while the instance lives, only possibly shorter than memory once
    the guest has grown it: an access beyond a view asks ``view()`` again before
    it counts as out of bounds. The core then reads guest memory by slicing,
    with no call into the engine per access.
    """

    def view(self) -> memoryview: ...


class EngineInstance(Protocol):
    """One instance of a compiled module.

    An instance may also have ``unsigned_args = True``: its all-i32 host
    functions receive pointers and lengths as unsigned ints (most engines hand
    i32 values over signed, and the core reads them as unsigned itself).
    """

    memory: GuestMemory | None

    def has_func(self, name: str) -> bool: ...

    def call(self, name: str, *args: int) -> int | None:
        """Call an exported function; raise EngineTrap when the guest traps.

        An exception raised by a host function propagates out unchanged.
        """
        ...

    def guest_call(self, op_len: int, msg_len: int) -> int:
        """Call ``__guest_call`` on the hot path (no per-call lookups)."""
        ...


class CompiledModule(Protocol):
    engine_name: str
    imports: Sequence[ImportDecl]
    exports: Sequence[ExportDecl]

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> EngineInstance:
        """Instantiate; runs the start section. Raises EngineTrap if it traps."""
        ...


class Engine(Protocol):
    name: str
    version: str

    def compile(self, wasm: bytes, limits: Limits) -> CompiledModule:
        """Compile; raise ValueError with the engine's reason if invalid."""
        ...
