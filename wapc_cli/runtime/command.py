"""Running a WASI command module (``_start``, not a waPC guest) on any engine

    >>> command = load_command("hello.wasm", engine="auto", limits=Limits(timeout_s=5))
    >>> result = command.run(WasiOptions(args=("a",)), stdout=out.write, stderr=err.write)
    >>> result.exit_code
    0

A command exports ``_start`` (``() -> ()``) and its memory, and imports nothing
but WASI (``wasi_snapshot_preview1`` / ``wasi_unstable``); it needs no
``__guest_call``. Each :meth:`WasiCommand.run` is a fresh instance with its own
WASI host (our Python WASI, the one waPC guests get): argv is always
``[program_name, *args]`` (``WasiOptions.program_name``), stdin is the bytes
given (or a ``read(n)`` callable), and the guest's stdout/stderr go to the two
sinks as raw bytes, as the guest writes them (no line splitting, no decoding).

The result is the exit status: ``proc_exit``'s code, or 0 when ``_start``
returns. Anything else that ends the guest early (a trap, a limit, an ABI
misuse) raises the same typed :class:`~wapc_cli.errors.WapcError` a waPC call
raises (:func:`~wapc_cli.runtime.outcome.classify_fault`); a stop request
(Ctrl-C) raises ``KeyboardInterrupt``. A time limit covers instantiation and
the whole run; sleeps in ``poll_oneoff`` end with it, and so do writes to a
sink that cannot take them (the run's deadline is :func:`.budget.deadline`
while it runs; see :class:`~.wasi_streams.RawOutput`). ``budget_s`` gives
those waits a budget when the limits carry no timeout: a supervised child
whose parent enforces it on guest code. Every host file the run opened is
closed when it ends, whatever the outcome.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import NamedTuple

from .. import abi
from ..engines import CompiledModule, Limits, get_engine
from ..engines.base import FuncSig
from ..errors import NotAGuest, WapcError
from . import interrupts
from .budget import running_until
from .cache import ModuleCache
from .hostcalls import no_handler
from .loading import compile_guest, read_module_file
from .outcome import classify_fault, memory_limit_hit
from .session import WapcSession
from .wasi import ProcExit, RawOutput, StdinSource, WasiHost, WasiOptions

#: The export a command starts at, and its type.
START = "_start"
_START_SIG = FuncSig((), ())

ByteSink = Callable[[bytes], None]


class CommandResult(NamedTuple):
    """How a command ended: ``exit_code`` is proc_exit's code (0 when ``_start`` returned)."""

    exit_code: int


def load_command(
    source: str | os.PathLike[str] | bytes,
    *,
    engine: str = "auto",
    limits: Limits | None = None,
    name: str | None = None,
    cache: ModuleCache | None = None,
) -> WasiCommand:
    """Read (a path) or take (bytes), check and compile a WASI command module."""
    if isinstance(source, bytes | bytearray | memoryview):
        wasm, where = bytes(source), name or "<bytes>"
    else:
        wasm, where = read_module_file(source), name or os.fspath(source)
    limits = limits or Limits()
    built = compile_guest(wasm, engine=engine, limits=limits, name=where, cache=cache)
    command = WasiCommand(built.compiled, where, limits, built.start_export, built.compile_ms)
    command.wasm = wasm
    return command


def check_command_shape(compiled: CompiledModule, name: str) -> None:
    """Refuse, before running anything, a module that is not a WASI command we can run."""
    exports = {e.name: e for e in compiled.exports}
    start = exports.get(START)
    if start is None or start.kind != "func":
        raise NotAGuest(f"module '{name}' does not export a function '_start' (not a command)")
    if start.sig != _START_SIG:
        raise NotAGuest(f"module '{name}': '_start' has type {start.sig}, expected {_START_SIG}")
    memory = exports.get(abi.MEMORY)
    if memory is None or memory.kind != "memory":
        raise NotAGuest(f"module '{name}' does not export its memory as 'memory'")
    for decl in compiled.imports:
        if decl.kind != "func" or decl.module not in abi.WASI_MODULES:
            raise NotAGuest(
                f"module '{name}': import '{decl.module}.{decl.name}' ({decl.kind}) is not "
                "WASI; a command gets only WASI imports"
            )


class WasiCommand:
    """A compiled, checked WASI command, ready to run any number of times."""

    def __init__(
        self, compiled: CompiledModule, name: str, limits: Limits,
        start_export: str | None = None, compile_ms: float = 0.0,
    ) -> None:
        check_command_shape(compiled, name)
        self.compiled = compiled
        self.name = name
        self.limits = limits
        self.compile_ms = compile_ms
        #: The export holding the deferred start section (wapc_cli.wasm.startfn), or None.
        self.start_export = start_export
        self.engine_name = compiled.engine_name
        #: The module's bytes (trap frames' offsets point into them), when known.
        self.wasm: bytes | None = None
        self.wasi_imports = [
            (d.module, d.name, d.sig) for d in compiled.imports if d.sig is not None
        ]

    def run(
        self,
        wasi: WasiOptions,
        *,
        stdout: ByteSink,
        stderr: ByteSink,
        stdin: StdinSource = b"",
        budget_s: float | None = None,
    ) -> CommandResult:
        """Run ``_start`` once in a fresh instance; see the module docstring."""
        interrupts.check()
        budget = self.limits.timeout_s if budget_s is None else budget_s
        session = WapcSession(no_handler)
        host = WasiHost(session, wasi, output=RawOutput(stdout, stderr, session), stdin=stdin,
                        command=True)
        runner = _Runner(self.engine_name)
        interrupts.watch(runner)
        try:
            if budget is not None:
                session.deadline = time.monotonic() + budget
            # The output sinks are host code of this exchange: they see its deadline.
            with running_until(math.inf if session.deadline is None else session.deadline):
                return self._run(session, host, budget)
        finally:
            interrupts.unwatch(runner)
            host.close()

    def _run(self, session: WapcSession, host: WasiHost, budget: float | None) -> CommandResult:
        functions = host.functions(self.wasi_imports)
        memory_before: int | None = None
        phase = "instantiation (start section)"
        try:
            instance = self.compiled.instantiate(functions, self.limits)
            session.attach(instance.memory, unsigned_args=instance.unsigned_args)
            if instance.memory is not None:
                memory_before = instance.memory.size()
            if self.start_export is not None:
                phase = "start section"
                instance.call(self.start_export)
            phase = START
            instance.call(START)
        except BaseException as exc:
            host.flush()
            fault = session.fault or exc
            if isinstance(fault, ProcExit):
                return CommandResult(fault.code)
            raise self._classify(exc, session, phase, memory_before, budget) from None
        host.flush()
        return CommandResult(0)

    def _classify(
        self, exc: BaseException, session: WapcSession, phase: str, before: int | None,
        budget: float | None,
    ) -> WapcError:
        if isinstance(exc, KeyboardInterrupt) or interrupts.requested():
            raise KeyboardInterrupt from None
        limits = self.limits
        if limits.timeout_s is None and budget is not None:
            limits = limits._replace(timeout_s=budget)  # the budget the sleep ran out of
        error = classify_fault(exc, session, limits, phase, self.wasm)
        return memory_limit_hit(error, limits.max_memory_bytes, session.memory, before)


class _Runner:
    """What a stop request (Ctrl-C) reaches while a command runs: its engine."""

    def __init__(self, engine_name: str) -> None:
        self.engine_name = engine_name

    def stop_running(self) -> None:
        get_engine(self.engine_name).interrupt()
