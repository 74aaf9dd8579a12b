"""The wasmer 1.1 adapter. The only module that imports wasmer.

wasmer's Python wheels exist only up to CPython 3.10, so this module fails to
import elsewhere and the engine registry reports it as unavailable.

Two facts about wasmer 1.1 shape this file (checked with wasmer 1.1.0):

- A Python exception raised inside a host function comes back out of the wasm
  call unchanged (same object, same type), so it is re-raised as it is, like
  the wasmtime adapter does. Only wasmer's own traps are translated; they are
  raised as a plain ``RuntimeError`` whose text is the trap message followed by
  one ``    at name (<module>[index]:0xoffset)`` line per frame.
- wasmer 1.1 has no fuel metering and no epoch interruption, and its Python API
  cannot cap memory growth; see :func:`_check_limits` and the engine's
  declared ``capabilities`` (timeouts and memory limits then need a supervised
  child process).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import wasmer
from wasmer_compiler_cranelift import Compiler

from ..errors import TrapFrame, UsageError
from ..wasm.memories import cap_memories
from .base import (
    Capabilities,
    EngineTrap,
    EngineTrapInfo,
    ExportDecl,
    FuncSig,
    HostFn,
    ImportDecl,
    Limits,
)

# wasmer.Type values as wasmtime spells them, so FuncSig compares equal across engines.
_TYPE_NAMES = {
    wasmer.Type.I32: "i32",
    wasmer.Type.I64: "i64",
    wasmer.Type.F32: "f32",
    wasmer.Type.F64: "f64",
    wasmer.Type.V128: "v128",
    wasmer.Type.EXTERN_REF: "externref",
    wasmer.Type.FUNC_REF: "funcref",
}
_TYPES_BY_NAME = {name: ty for ty, name in _TYPE_NAMES.items()}

_FRAME = re.compile(r"^\s*at (?P<name>.*?) \(<module>\[(?P<index>\d+)\]:(?P<offset>0x[0-9a-f]+)\)")


def _check_limits(limits: Limits) -> None:
    """Refuse, clearly, the limits wasmer 1.1 cannot enforce in-process.

    Never ignore a limit silently: a user who asked for one must not run unbounded.
    The hook for supervised enforcement (timeout, memory) is this one function.
    """
    if limits.fuel is not None:
        raise UsageError(
            "a fuel limit is not supported by the wasmer engine (wasmer 1.1 has no fuel "
            "metering); use the wasmtime engine"
        )
    if limits.timeout_s is not None:
        # Callers run wasmer in a supervised child process that is killed on time
        # (wapc_cli.isolation); in-process there is no way to stop a running guest.
        raise UsageError(
            "a timeout is not supported by the wasmer engine in-process (wasmer 1.1 "
            "cannot interrupt a running guest); run it in a supervised child process, "
            "use the wasmtime engine, or set no timeout"
        )


def _type_name(ty: Any) -> str:
    try:
        return _TYPE_NAMES[wasmer.Type(ty)]
    except (KeyError, ValueError, TypeError):
        return str(ty).lower()


def _sig(ty: Any) -> FuncSig | None:
    if isinstance(ty, wasmer.FunctionType):
        return FuncSig(
            tuple(_type_name(p) for p in ty.params), tuple(_type_name(r) for r in ty.results)
        )
    return None


def _kind(ty: Any) -> str:
    return {
        wasmer.FunctionType: "func",
        wasmer.MemoryType: "memory",
        wasmer.TableType: "table",
        wasmer.GlobalType: "global",
    }.get(type(ty), "other")


def _functype(sig: FuncSig) -> wasmer.FunctionType:
    return wasmer.FunctionType(
        [_TYPES_BY_NAME[p] for p in sig.params], [_TYPES_BY_NAME[r] for r in sig.results]
    )


def _is_engine_error(exc: BaseException) -> bool:
    # wasmer raises exactly RuntimeError for traps and link errors; subclasses
    # (RecursionError, NotImplementedError) come from Python code in a host function
    # and must travel back unchanged for the core to classify.
    return type(exc) is RuntimeError


def _trap_info(exc: BaseException) -> EngineTrapInfo:
    lines = str(exc).strip().splitlines()
    message = lines[0].removeprefix("RuntimeError: ").strip() if lines else ""
    frames: list[TrapFrame] = []
    for line in lines[1:]:
        match = _FRAME.match(line)
        if match is None:
            continue
        name = match["name"]
        if name == "<unnamed>":
            name = f"func[{match['index']}]"
        frames.append(TrapFrame(name, int(match["offset"], 16)))
    kind = "stack" if "call stack exhausted" in message else "trap"
    return EngineTrapInfo(message or "RuntimeError", tuple(frames), kind)


class WasmerMemory:
    """Guest memory through a cached memoryview, refreshed when the memory grows.

    Where memory may move when it grows (see :class:`StaticWasmerMemory` for
    where it cannot), a view taken before then points at the old mapping, so the
    view is re-taken whenever ``data_size`` changed.
    """

    __slots__ = ("_memory", "_view")
    lends_views = False
    native_handle: tuple[int, int, int, int, object] | None = None

    def __init__(self, memory: wasmer.Memory) -> None:
        self._memory = memory
        self._view = memoryview(memory.buffer)

    def _current(self) -> memoryview:
        view = self._view
        if len(view) != self._memory.data_size:
            view = self._view = memoryview(self._memory.buffer)
        return view

    def size(self) -> int:
        return int(self._memory.data_size)

    def _covering(self, ptr: int, end: int, what: str) -> memoryview:
        view = self._current()
        if ptr < 0 or end > len(view):  # the core checked; a slice would truncate silently
            raise IndexError(f"{what} of {end - ptr} bytes at {ptr:#x} outside memory")
        return view

    def read(self, ptr: int, length: int) -> bytes:
        return self._covering(ptr, ptr + length, "read")[ptr : ptr + length].tobytes()

    def write(self, ptr: int, data: bytes) -> None:
        self._covering(ptr, ptr + len(data), "write")[ptr : ptr + len(data)] = data


class StaticWasmerMemory(WasmerMemory):
    """A memory that never moves, so it can lend its view to the core (a ViewMemory).

    wasmer's default tunables give every memory whose maximum (declared, else
    4 GiB) fits the static bound -- 65536 pages on a 64-bit host, i.e. every
    32-bit memory -- the *static* style: the whole bound is reserved up front
    and growing only commits pages in place. A view taken earlier therefore
    stays valid, just shorter than memory once the guest has grown it; the core
    asks for a new one only for an access beyond it. Each new view is checked
    to start where the first did.
    """

    __slots__ = ("_base",)
    lends_views = True

    def __init__(self, memory: wasmer.Memory) -> None:
        super().__init__(memory)
        self._base = _address(self._view)  # 0 while memory is empty

    def view(self) -> memoryview:
        """All of linear memory as it is now (its length is the size)."""
        view = self._current()
        base = _address(view)  # a view is taken only at instantiation and after growth
        if base and self._base and base != self._base:  # pragma: no cover - wasmer's design
            raise RuntimeError("wasmer moved a static linear memory")
        self._base = self._base or base
        return view


def _address(view: memoryview) -> int:
    """Where a (writable) view's bytes start; 0 for an empty one."""
    if not len(view):
        return 0
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(view))


# Static memories need the 64-bit host's address space (wasmer's 32-bit hosts
# use a 1 GiB bound, which a memory may outgrow and then move).
_STATIC_MEMORIES = sys.maxsize > 2**32


class WasmerInstance:
    unsigned_args = False
    #: The label benchmark reports have always shown for this engine's instances.
    hot_path = "WasmerInstance"

    def __init__(
        self,
        compiled: WasmerModule,
        host_functions: Mapping[tuple[str, str], HostFn],
        limits: Limits,
    ) -> None:
        _check_limits(limits)
        store = compiled.store
        by_module: dict[str, dict[str, wasmer.Function]] = {}
        for decl in compiled.imports:
            fn = host_functions.get((decl.module, decl.name))
            if fn is None or decl.sig is None:
                continue
            functions = by_module.setdefault(decl.module, {})
            # A function imported twice (some TinyGo builds do) is defined once:
            # the import object serves every entry naming it.
            if decl.name not in functions:
                functions[decl.name] = wasmer.Function(store, fn, _functype(decl.sig))
        import_object = wasmer.ImportObject()
        for module, functions in by_module.items():
            import_object.register(module, functions)
        try:
            instance = wasmer.Instance(compiled.module, import_object)
        except RuntimeError as exc:
            if not _is_engine_error(exc):
                raise
            raise EngineTrap(_trap_info(exc)) from None
        self._instance = instance
        self._funcs: dict[str, Any] = {}
        memory = None
        for name, item in instance.exports:
            if isinstance(item, wasmer.Function):
                self._funcs[name] = item
            elif name == "memory" and isinstance(item, wasmer.Memory):
                memory = StaticWasmerMemory(item) if _STATIC_MEMORIES else WasmerMemory(item)
        self.memory: WasmerMemory | None = memory
        self._guest_call = self._funcs.get("__guest_call")

    def has_func(self, name: str) -> bool:
        return name in self._funcs

    def call(self, name: str, *args: int) -> int | None:
        try:
            result = self._funcs[name](*args)
        except RuntimeError as exc:
            if not _is_engine_error(exc):
                raise
            raise EngineTrap(_trap_info(exc)) from None
        return result if isinstance(result, int) else None

    def guest_call(self, op_len: int, msg_len: int) -> int:
        try:
            return self._guest_call(op_len, msg_len)  # type: ignore[misc, no-any-return]
        except RuntimeError as exc:
            if not _is_engine_error(exc):
                raise
            raise EngineTrap(_trap_info(exc)) from None


class WasmerModule:
    engine_name = "wasmer"
    native_imports = False  # wasmer-python has no C entry points to define them with

    def __init__(self, module: wasmer.Module, store: wasmer.Store) -> None:
        self.module = module
        self.store = store
        self.imports: Sequence[ImportDecl] = [
            ImportDecl(i.module, i.name or "", _kind(i.type), _sig(i.type)) for i in module.imports
        ]
        self.exports: Sequence[ExportDecl] = [
            ExportDecl(e.name, _kind(e.type), _sig(e.type)) for e in module.exports
        ]

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> WasmerInstance:
        return WasmerInstance(self, host_functions, limits)


class WasmerEngine:
    name = "wasmer"
    capabilities = Capabilities(interrupts=False, limits_memory=False, meters_fuel=False)

    def __init__(self) -> None:
        self.version = _version()
        # Modules and host functions belong to a store; one store serves every module.
        self._store = wasmer.Store(wasmer.engine.Universal(Compiler))
        self._target: str | None = None  # code_config's host part, read once when asked

    def interrupt(self) -> bool:
        """Nothing to do: wasmer 1.1 cannot stop a running guest (``capabilities``).

        Only killing the supervised child process it runs in stops it.
        """
        return False

    def compile(self, wasm: bytes, limits: Limits) -> WasmerModule:
        _check_limits(limits)
        if limits.max_memory_bytes is not None:
            # No memory limiter in wasmer 1.1: a lowered declared maximum makes
            # memory.grow past the max-memory limit return -1, as WebAssembly specifies.
            wasm = cap_memories(bytes(wasm), limits.max_memory_bytes)
        try:
            # wasmer accepts only ``bytes`` (a bytearray is refused as "not Wasm bytes").
            module = wasmer.Module(self._store, bytes(wasm))
        except RuntimeError as exc:
            lines = str(exc).strip().splitlines()
            raise ValueError(lines[0] if lines else "invalid module") from None
        return WasmerModule(module, self._store)

    # -- compiled-module cache (wapc_cli.runtime.cache) ------------------------------------
    def code_config(self, limits: Limits) -> str:
        """Everything besides the module bytes and wasmer's version that shapes the
        artifact: the compiler, the host it compiled for, and the max-memory cap
        that :meth:`compile` writes into the module's declared maximum."""
        if self._target is None:
            self._target = _host_code_target()
        cap = limits.max_memory_bytes
        return (f"engine=universal;compiler=cranelift-{_version('wasmer_compiler_cranelift')};"
                f"max_memory={'none' if cap is None else cap};target={self._target}")

    def serialize(self, compiled: Any) -> bytes:
        return bytes(compiled.module.serialize())

    def deserialize(self, artifact: bytes, limits: Limits) -> WasmerModule:
        # Only reached with a checksum-verified artifact this cache wrote itself.
        _check_limits(limits)
        try:
            module = wasmer.Module.deserialize(self._store, bytes(artifact))
        except RuntimeError as exc:  # refused: compile_module drops it and compiles
            raise ValueError(str(exc).strip() or "artifact refused") from None
        return WasmerModule(module, self._store)


def _version(package: str = "wasmer") -> str:
    # The wheel's dist-info sits next to the package: reading its name avoids
    # importing importlib.metadata (~15 ms) in every supervised child.
    site: str = os.path.dirname(os.path.dirname(str(wasmer.__file__)))
    prefix = f"{package}-"
    with contextlib.suppress(OSError):
        for entry in os.listdir(site):
            if entry.startswith(prefix) and entry.endswith(".dist-info"):
                rest = str(entry[len(prefix) : -len(".dist-info")])
                if rest[:1].isdigit():  # not wasmer_compiler_cranelift for wasmer
                    return rest
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


def _host_code_target() -> str:
    """What the generated code depends on besides wapc's settings: the host
    triple and, on Linux, the CPU's feature flags (cranelift compiles for the
    features it finds; an artifact from a machine with more must not load here)."""
    flags = ""
    with contextlib.suppress(OSError, UnicodeDecodeError), \
            open("/proc/cpuinfo", encoding="ascii") as cpuinfo:
        for line in cpuinfo:
            if line.startswith(("flags", "Features")):  # x86 / arm
                flags = " ".join(sorted(line.partition(":")[2].split()))
                break
    return f"{wasmer.target.Triple.host()};cpu={_digest(flags or platform.processor())}"


def _digest(text: str) -> str:
    """A short SHA-256 of ``text`` (CPython's built-in one when present: loading
    OpenSSL through hashlib would cost more than the rest of a cache hit)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256
    return str(sha256(text.encode("utf-8")).hexdigest()[:16])
