"""The engine contract: the only surface the protocol core needs from a runtime.

An engine compiles bytes, instantiates a module against host functions the core
supplies, and runs exports. It never interprets the waPC protocol: it moves
integers in and out of functions and bytes in and out of linear memory. What
else the core may rely on is declared, never probed: an engine's
:class:`Capabilities`, an instance's ``unsigned_args`` and ``hot_path``, a
memory's ``lends_views``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol, TypeGuard

from ..errors import TrapFrame

ValType = str  # "i32" | "i64" | "f32" | "f64" | other engine-specific names


# The value classes on the call path are NamedTuples, not dataclasses: importing
# dataclasses (it imports inspect, ast, dis, tokenize) and building a dozen of
# them is a measurable part of a one-shot `wapc call`, while typing, which
# wasmtime imports anyway, builds a NamedTuple almost for free.


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


class NativeHostFn:
    """A host function written in C, for an engine whose modules declare ``native_imports``.

    ``callback`` is the address of a function with wasmtime's unchecked
    host-function signature (``wasm_trap_t *(void *env, wasmtime_caller_t *,
    wasmtime_val_raw_t *args_and_results, size_t)``), called with ``env``.
    Before instantiating, the engine calls ``prepare(trap_new, keep)`` once per
    instance: ``trap_new`` is the address of ``wasmtime_trap_new`` (what the
    function returns a trap with) and ``keep`` takes the Python exception that
    trap stands for, which the engine re-raises once the guest call is back in
    Python. ``owner`` keeps ``env`` valid while the instance lives.
    """

    __slots__ = ("callback", "env", "owner", "prepare")

    def __init__(
        self, callback: int, env: int,
        prepare: Callable[[int, Callable[[BaseException], None]], None], owner: object,
    ) -> None:
        self.callback = callback
        self.env = env
        self.prepare = prepare
        self.owner = owner

    def __call__(self, *args: int) -> int | None:
        """Only the engine calls it, natively: a HostFn in type only."""
        raise TypeError("a native host function is called by the engine, not from Python")


#: The most fuel an engine can count (wasmtime's fuel is a u64); adapters refuse more.
MAX_FUEL = 2**64 - 1


class Limits(NamedTuple):
    """Resource limits for one instance; ``None`` means unlimited.

    ``fuel`` must lie within 0..:data:`MAX_FUEL` and ``timeout_s`` must be a
    number of seconds >= 0 (any size: no engine turns it into a counter that
    could overflow); an adapter refuses other values with ``UsageError``.
    """

    max_memory_bytes: int | None = None
    fuel: int | None = None
    timeout_s: float | None = None


class EngineTrapInfo(NamedTuple):
    """What an engine tells about a trap, normalised.

    ``frames``: innermost first, each with the function's name (from the name
    section, else ``func[index]``) and its byte offset in the module file.
    """

    message: str
    frames: tuple[TrapFrame, ...] = ()
    #: "trap" | "fuel" | "timeout" | "stack" | "memory" | "interrupted" (Engine.interrupt)
    kind: str = "trap"


class EngineTrap(Exception):
    """Raised by an adapter when guest code trapped (engine-side cause)."""

    def __init__(self, info: EngineTrapInfo) -> None:
        super().__init__(info.message)
        self.info = info


class Capabilities(NamedTuple):
    """What an engine can do in-process, declared so no caller tests its name or class.

    ``interrupts``: it can stop running guest code in-process, so a timeout
    needs no child process, and :meth:`Engine.interrupt` stops running calls on
    request (without it, only killing a supervised child process stops a
    guest). ``limits_memory``: it enforces a
    max-memory limit on every linear memory itself (a memory limiter); without
    one an adapter can only lower declared maxima, and a child process's rlimit
    has to back the limit. ``meters_fuel``: it can count and stop on fuel.
    """

    interrupts: bool
    limits_memory: bool
    meters_fuel: bool

    def needs_child_process(self, limits: Limits) -> bool:
        """Whether only a supervised child process can enforce ``limits`` on this engine."""
        return (limits.timeout_s is not None and not self.interrupts) or (
            limits.max_memory_bytes is not None and not self.limits_memory
        )


class GuestMemory(Protocol):
    """Linear memory of one instance. The core bounds-checks before calling.

    ``lends_views`` says whether this memory is also a :class:`ViewMemory`
    (fixed for the life of the memory): ask :func:`view_memory` for one.
    """

    lends_views: bool
    #: For native host functions (:class:`NativeHostFn`): the addresses of
    #: ``wasmtime_memory_data`` and ``_data_size``, the store context and the
    #: ``wasmtime_memory_t``, and the object that keeps those valid; None when
    #: the memory cannot be reached that way.
    native_handle: tuple[int, int, int, int, object] | None

    def size(self) -> int: ...

    def read(self, ptr: int, length: int) -> bytes: ...

    def write(self, ptr: int, data: bytes) -> None: ...


class ViewMemory(GuestMemory, Protocol):
    """A memory that can also lend a memoryview of itself (``lends_views = True``).

    wasmtime's C-API path and wasmer's static memories (64-bit hosts) are such
    memories. ``view()`` covers memory from address 0 to its current size. Its
    base never moves (the adapter makes sure memory cannot move), so a view
    stays valid while the instance lives, only possibly shorter than memory once
    the guest has grown it: an access beyond a view asks ``view()`` again before
    it counts as out of bounds. The core then reads guest memory by slicing,
    with no call into the engine per access.
    """

    def view(self) -> memoryview: ...


def is_view_memory(memory: GuestMemory) -> TypeGuard[ViewMemory]:
    """Whether ``memory`` declares that it lends views (``lends_views``)."""
    return memory.lends_views


def view_memory(memory: GuestMemory | None) -> ViewMemory | None:
    """``memory`` as a :class:`ViewMemory` when it lends views, else None."""
    return memory if memory is not None and is_view_memory(memory) else None


class EngineInstance(Protocol):
    """One instance of a compiled module.

    ``unsigned_args``: whether its all-i32 host functions receive pointers and
    lengths as unsigned ints. Most engines hand i32 values over signed, and the
    core then reads them as unsigned itself. ``hot_path``: a short name of the
    way it calls the guest (e.g. "c-api"), for benchmark reports.
    """

    memory: GuestMemory | None
    unsigned_args: bool
    hot_path: str

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
    """``native_imports``: whether ``instantiate`` takes :class:`NativeHostFn` values."""

    engine_name: str
    imports: Sequence[ImportDecl]
    exports: Sequence[ExportDecl]
    native_imports: bool

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> EngineInstance:
        """Instantiate; runs the start section. Raises EngineTrap if it traps."""
        ...


class Engine(Protocol):
    """An engine adapter. ``capabilities`` matches the registry's declaration
    for its name (``wapc_cli.engines``), which answers without loading it."""

    name: str
    version: str
    capabilities: Capabilities

    def compile(self, wasm: bytes, limits: Limits) -> CompiledModule:
        """Compile; raise ValueError with the engine's reason if invalid."""
        ...

    def interrupt(self) -> bool:
        """Stop the guest code running now in any of this engine's instances.

        Each running call soon (within a few milliseconds) raises
        ``EngineTrap`` with kind "interrupted"; calls started afterwards are not
        affected, and an interrupted instance may be dropped and a new one made
        from the same module. Safe from any thread and from a Python signal
        handler (it never raises). Returns False, doing nothing, when the engine
        cannot (``capabilities.interrupts`` is False): then only killing a
        supervised child process stops its guest.
        """
        ...
