"""Host calls answered by another guest: one operation of another module, run as a nested exchange.

Two hosts answer a host call this way: Tarmac's ``tarmac:function:NAME``
(:mod:`.tarmac.functions`) and a stub rule's ``reply: {guest: MODULE,
operation: OP}`` (wasmCloud's actor-to-actor call). What they share lives
here: the callee runs in this process, in the same run, on the same engine,
under the same host profile and the same limits (its time comes out of the caller's exchange: it
gets no more than the caller has left, and running out of it ends the
caller's run with the timeout limit too), with the same host-call handler
(stub rules, the preset, ``--record``) and the same log and trace sinks (its
steps appear inside the caller's host call, between a
:class:`~.trace.FunctionCall` and its :class:`~.trace.FunctionReturn`, one
level deeper). Each module compiles once per run; each call gets a fresh
instance. On an engine that cannot stop a guest in-process (wasmer), each
call runs in a supervised child process of its own instead. Calls nest at
most :data:`MAX_DEPTH` deep: a deeper one is a failed host call.

How a callee's failure reads is the caller's to say (``describe_failure``):
Tarmac prefixes ``failed to execute wasm module - ``, a guest reply hands the
callee's own error text back as it is.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.base import Limits
from ..errors import GuestError, LimitExceeded, WapcError
from ..runtime import budget
from ..runtime.hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply
from ..runtime.limits import needs_supervision
from ..runtime.session import EventSink, HostAbort, LogSink
from ..runtime.wasi_options import WasiOptions

if TYPE_CHECKING:
    from ..runtime.cache import ModuleCache
    from ..runtime.guest import WapcModule
    from ..runtime.profiles import HostProfile

#: How deep nested exchanges may go below the run's own exchange.
MAX_DEPTH = 8

#: How a callee's failure becomes the caller's host-call error text.
DescribeFailure = Callable[[WapcError], str]


def own_text(error: WapcError) -> str:
    """The callee's error as it is: a guest error's own text, else the one-line message."""
    return error.message


class NestedRunner:
    """Runs callee guests; one per run, shared by every nesting level.

    ``handler`` (the run's whole host-call handler), ``tracer`` and ``on_log`` are
    set once the run's setup is known (:meth:`configure`, :meth:`attach`).
    """

    def __init__(self) -> None:
        self.handler: HostCallHandler | None = None
        self.engine = "auto"
        self.limits = Limits()
        self.cache: ModuleCache | None = None
        #: The host profile callees run under (the caller's; None: the default).
        self.profile: HostProfile | None = None
        self.tracer: EventSink | None = None
        self.on_log: LogSink | None = None
        self.depth = 0
        self._modules: dict[Path, WapcModule] = {}
        self._spans = itertools.count(1)

    def configure(self, *, engine: str, limits: Limits, cache: ModuleCache | None,
                  profile: HostProfile | None = None) -> None:
        """Run callees on ``engine`` under ``limits`` and ``profile`` (the caller's),
        compiled via ``cache``."""
        self.engine, self.limits, self.cache = engine, limits, cache
        self.profile = profile

    def attach(self, tracer: EventSink | None, on_log: LogSink | None) -> None:
        """Send callees' steps to ``tracer`` and their log lines to ``on_log``."""
        self.tracer, self.on_log = tracer, on_log

    def run(self, label: str, path: Path, operation: str, payload: bytes,
            describe_failure: DescribeFailure = own_text) -> bytes:
        """``operation`` of the module at ``path`` with ``payload``: its response; a
        failure raises HostCallError (a failed host call) with ``describe_failure``'s text.

        ``label`` names the nested exchange in the trace (a Tarmac function's name,
        a stub rule's label)."""
        if self.depth >= MAX_DEPTH:
            raise HostCallError(f"nested guest calls went deeper than {MAX_DEPTH} "
                                f"({label} not run)")
        tracer = self.tracer
        span = next(self._spans)
        if tracer is not None:
            from .trace import FunctionCall

            tracer(FunctionCall(0, 0, label, str(path), len(payload), span, operation))
        started = time.perf_counter_ns()
        self.depth += 1
        outcome, message, response = "stopped", None, b""
        try:
            response = self._run(path, operation, payload, describe_failure)
            outcome = "ok"
            return response
        except HostCallError as exc:
            outcome, message = "error", exc.message
            raise
        finally:
            self.depth -= 1
            if tracer is not None:
                from .trace import FunctionReturn

                tracer(FunctionReturn(0, time.perf_counter_ns() - started, label, span,
                                      outcome, message, len(response)))

    # -- one call -------------------------------------------------------------------------
    def _run(self, path: Path, operation: str, payload: bytes,
             describe_failure: DescribeFailure) -> bytes:
        limits, cut = self._call_limits()
        aborted: list[HostAbort] = []
        handler = self._nested_handler(aborted)
        try:
            if needs_supervision(self.engine, limits):
                response = self._run_supervised(path, operation, payload, limits, handler)
            else:
                response = self._run_here(path, operation, payload, limits, handler)
        except HostAbort:
            raise
        except LimitExceeded as exc:
            if aborted:
                raise aborted[0] from None
            if exc.limit == "timeout" and cut:
                # The caller's time ran out in here: its run ends with the timeout.
                raise budget.OutOfTime(f"the {operation} of {path.name}") from None
            raise HostCallError(describe_failure(exc)) from None
        except (GuestError, WapcError) as exc:
            if aborted:
                raise aborted[0] from None  # a stub table stopped the run inside the callee
            raise HostCallError(describe_failure(exc)) from None
        if aborted:
            raise aborted[0]
        return response

    def _call_limits(self) -> tuple[Limits, bool]:
        """The caller's limits, with the timeout cut to what the exchange has left."""
        left = budget.remaining()
        timeout = self.limits.timeout_s
        if left == math.inf:
            return self.limits, False
        if timeout is None or left < timeout:
            return self.limits._replace(timeout_s=left), True
        return self.limits, False

    def _nested_handler(self, aborted: list[HostAbort]) -> HostCallHandler:
        """The run's handler for the callee's host calls, noting a stop it asks for."""
        handler = self.handler
        tracer = self.tracer

        def answer(request: HostCallRequest) -> bytes | HostReply:
            if handler is None:
                raise HostCallError(f"no host call handler for {request.key}")
            started = time.perf_counter_ns()
            try:
                return handler(request)
            except HostAbort as exc:
                aborted.append(exc)
                if tracer is not None:  # the trace shows the call that stopped the run
                    from .trace import AbortedHostCall

                    took = time.perf_counter_ns() - started
                    tracer(AbortedHostCall(0, took, request.binding, request.namespace,
                                           request.operation, request.payload, 0, b"",
                                           str(exc.error), "default: fail"))
                raise

        return answer

    def _module(self, path: Path) -> WapcModule:
        module = self._modules.get(path)
        if module is None:
            from ..runtime.guest import load_module

            try:
                module = load_module(path, engine=self.engine, limits=self.limits,
                                     cache=self.cache)
            except WapcError as exc:
                # A host refuses to start with a module it cannot load: so does this run.
                raise HostAbort(exc) from None
            self._modules[path] = module
        return module

    def _run_here(self, path: Path, operation: str, payload: bytes, limits: Limits,
                  handler: HostCallHandler) -> bytes:
        module = self._module(path)
        if limits is not module.limits:
            module = copy.copy(module)  # the same compiled code, under the cut timeout
            module.limits = limits
        guest = module.instantiate(handler, on_log=self.on_log, tracer=self.tracer,
                                   wasi=WasiOptions(program_name=path.name),
                                   profile=self.profile)
        return guest.call(operation, payload)

    def _run_supervised(self, path: Path, operation: str, payload: bytes, limits: Limits,
                        handler: HostCallHandler) -> bytes:
        from ..isolation import run_supervised
        from ..runtime.loading import read_module_file

        try:
            wasm = read_module_file(path)
        except WapcError as exc:
            raise HostAbort(exc) from None
        outcome = run_supervised(
            wasm, operation=operation, payload=payload, name=str(path), engine=self.engine,
            limits=limits, wasi=WasiOptions(program_name=path.name), host_call=handler,
            on_log=self.on_log, tracer=self.tracer,
            profile="wapc" if self.profile is None else self.profile.name,
        )
        if outcome.error is not None:
            if not outcome.started:  # it did not compile: as _module() says
                raise HostAbort(outcome.error)
            raise outcome.error
        return outcome.response or b""
