"""The engine contract: the only surface the protocol core needs from a runtime.

An engine compiles bytes, instantiates a module against host functions the core
supplies, and runs exports. It never interprets the waPC protocol: it moves
integers in and out of functions and bytes in and out of linear memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

ValType = str  # "i32" | "i64" | "f32" | "f64" | other engine-specific names


@dataclass(frozen=True, slots=True)
class FuncSig:
    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True, slots=True)
class ImportDecl:
    module: str
    name: str
    kind: str  # "func" | "memory" | "table" | "global" | "tag"
    sig: FuncSig | None = None


@dataclass(frozen=True, slots=True)
class ExportDecl:
    name: str
    kind: str
    sig: FuncSig | None = None


HostFn = Callable[..., "int | None"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one instance; ``None`` means unlimited."""

    max_memory_bytes: int | None = None
    fuel: int | None = None
    timeout_s: float | None = None


@dataclass(slots=True)
class EngineTrapInfo:
    """What an engine tells about a trap, normalised."""

    message: str
    frames: tuple[str, ...] = field(default_factory=tuple)
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


class EngineInstance(Protocol):
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
