"""A scripted fake engine: protocol tests without WebAssembly.

A "guest" here is a list of steps run in Python against a bytearray memory:
each :class:`Call` invokes one of the host functions the session supplied,
exactly as compiled guest code would (signed i32 arguments included), so the
protocol core is exercised through the same :class:`CompiledModule` /
:class:`EngineInstance` contract the real adapters implement.

    module = FakeModule(on_call=[*request(), *respond(512, b"hi"), Return(1)])
    guest = fake_guest(module)
    guest.call("op", b"")   # -> b"hi"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wapc_cli import abi
from wapc_cli.engines.base import (
    EngineTrap,
    EngineTrapInfo,
    ExportDecl,
    FuncSig,
    HostFn,
    ImportDecl,
    Limits,
)
from wapc_cli.runtime.guest import Guest, WapcModule
from wapc_cli.wasm.constants import PAGE

Arg = int | Callable[[dict[str, int]], int]


def var(name: str) -> Callable[[dict[str, int]], int]:
    """An argument taken from the script's variables (results stored with ``into``)."""
    return lambda variables: variables[name]


@dataclass(frozen=True)
class Call:
    """Call the host import ``module.name``; keep its result in ``variables[into]``."""

    name: str
    args: tuple[Arg, ...] = ()
    module: str = "wapc"
    into: str | None = None


@dataclass(frozen=True)
class Write:
    """The guest stores bytes in its own memory."""

    ptr: int
    data: bytes


@dataclass(frozen=True)
class Return:
    value: Arg | None = 1


@dataclass(frozen=True)
class Trap:
    message: str = "unreachable"


Step = Call | Write | Return | Trap | Callable[["FakeInstance"], object]
Script = Sequence[Step]


def call(name: str, *args: Arg, module: str = "wapc", into: str | None = None) -> Call:
    return Call(name, tuple(args), module, into)


def request(op_ptr: int = 0, ptr: int = 256) -> list[Step]:
    return [call("__guest_request", op_ptr, ptr)]


def respond(ptr: int, data: bytes) -> list[Step]:
    return [Write(ptr, data), call("__guest_response", ptr, len(data))]


def error(ptr: int, text: str) -> list[Step]:
    data = text.encode("utf-8")
    return [Write(ptr, data), call("__guest_error", ptr, len(data))]


def host_call(
    binding: str, namespace: str, operation: str, payload: bytes = b"",
    *, at: int = 1024, into: str = "rc",
) -> list[Step]:
    """Write the four host-call strings from ``at`` on, then call ``__host_call``."""
    steps: list[Step] = []
    args: list[Arg] = []
    ptr = at
    for part in (binding.encode(), namespace.encode(), operation.encode(), payload):
        steps.append(Write(ptr, part))
        args += [ptr, len(part)]
        ptr += len(part) + 1
    steps.append(call("__host_call", *args, into=into))
    return steps


class MemoryMisuse(AssertionError):
    """The core touched memory outside its bounds: a core bug, never a guest one."""


class BytearrayMemory:
    lends_views = False  # a subclass with a view() says True
    native_handle = None

    def __init__(self, size: int = PAGE) -> None:
        self.data = bytearray(size)
        self.violations: list[str] = []

    def size(self) -> int:
        return len(self.data)

    def _check(self, ptr: int, length: int) -> None:
        if ptr < 0 or length < 0 or ptr + length > len(self.data):
            self.violations.append(f"{ptr}+{length}")
            raise MemoryMisuse(f"out-of-bounds access {ptr}+{length} reached the memory")

    def read(self, ptr: int, length: int) -> bytes:
        self._check(ptr, length)
        return bytes(self.data[ptr : ptr + length])

    def write(self, ptr: int, data: bytes) -> None:
        self._check(ptr, len(data))
        self.data[ptr : ptr + len(data)] = data

    def grow(self, pages: int) -> None:
        self.data.extend(bytes(pages * PAGE))


_ALL_IMPORTS = [
    ImportDecl(abi.WAPC_MODULE, name, "func", FuncSig(*sig))
    for name, sig in abi.HOST_IMPORTS.items()
] + [ImportDecl(m, n, "func", FuncSig(*sig)) for (m, n), sig in abi.ENV_IMPORTS.items()]


@dataclass
class FakeModule:
    """A compiled fake guest.

    ``on_call`` is the script every ``__guest_call`` runs, or ``per_call`` one
    script per call in order (shared across rebuilt instances). ``init`` maps
    init export names (``_start``, ``wapc_init``...) to scripts; ``start`` is the
    start section, run while instantiating. ``new_memory`` builds each instance's
    memory from ``memory_size`` (e.g. a memory that also lends a view).
    """

    on_call: Script = ()
    per_call: list[Script] | None = None
    init: Mapping[str, Script] = field(default_factory=dict)
    start: Script | None = None
    memory_size: int = PAGE
    new_memory: Callable[[int], BytearrayMemory] = BytearrayMemory
    imports: Sequence[ImportDecl] = field(default_factory=lambda: list(_ALL_IMPORTS))
    engine_name: str = "fake"
    native_imports: bool = False
    # Counters the tests read: how often each thing ran, across instances.
    instantiations: int = 0
    init_runs: list[str] = field(default_factory=list)
    calls: int = 0
    last_instance: FakeInstance | None = None

    @property
    def exports(self) -> Sequence[ExportDecl]:
        decls = [
            ExportDecl(abi.GUEST_CALL, "func", FuncSig(*abi.GUEST_CALL_SIGNATURE)),
            ExportDecl(abi.MEMORY, "memory"),
        ]
        decls += [ExportDecl(name, "func", FuncSig((), ())) for name in self.init]
        return decls

    def instantiate(
        self, host_functions: Mapping[tuple[str, str], HostFn], limits: Limits
    ) -> FakeInstance:
        self.instantiations += 1
        instance = FakeInstance(self, host_functions)
        self.last_instance = instance
        if self.start is not None:
            instance.run(self.start, {})
        return instance

    def next_script(self) -> Script:
        index = self.calls
        self.calls += 1
        if self.per_call is not None:
            return self.per_call[index]
        return self.on_call


class FakeInstance:
    unsigned_args = False  # like most engines: i32 arguments arrive signed (see _i32)
    hot_path = "fake"

    def __init__(self, module: FakeModule, host_functions: Mapping[tuple[str, str], HostFn]):
        self.module = module
        declared = {(d.module, d.name) for d in module.imports}
        # Like a real linker: only declared imports are bound.
        self.functions = {k: v for k, v in host_functions.items() if k in declared}
        self.memory = module.new_memory(module.memory_size)
        self.variables: dict[str, int] = {}

    def has_func(self, name: str) -> bool:
        return name in self.module.init or name == abi.GUEST_CALL

    def call(self, name: str, *args: int) -> int | None:
        self.module.init_runs.append(name)
        return self.run(self.module.init[name], {})

    def guest_call(self, op_len: int, msg_len: int) -> int:
        result = self.run(self.module.next_script(), {"op_len": op_len, "msg_len": msg_len})
        return 1 if result is None else result

    def run(self, script: Script, variables: dict[str, int]) -> int | None:
        self.variables = variables
        for step in script:
            if isinstance(step, Call):
                fn = self.functions.get((step.module, step.name))
                assert fn is not None, f"script calls undeclared import {step.module}.{step.name}"
                args = [_i32(a(variables) if callable(a) else a) for a in step.args]
                # Exceptions from host functions travel out unchanged, as in both engines.
                result = fn(*args)
                if step.into is not None:
                    assert isinstance(result, int)
                    variables[step.into] = result
            elif isinstance(step, Write):
                self.memory.data[step.ptr : step.ptr + len(step.data)] = step.data
            elif isinstance(step, Return):
                value = step.value
                return value(variables) if callable(value) else value
            elif isinstance(step, Trap):
                raise EngineTrap(EngineTrapInfo(step.message, ("fake_func @ 0x0",)))
            else:
                step(self)
        return None


def _i32(value: int) -> int:
    """Engines hand i32 arguments to host functions as SIGNED ints."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def fake_guest(module: FakeModule, **kw: Any) -> Guest:
    """A Guest running ``module`` (``kw`` as for :meth:`WapcModule.instantiate`)."""
    return WapcModule(module, "<fake>", Limits(), 0.0).instantiate(**kw)
