"""``tarmac:function:NAME``: another module's ``handler`` run as a nested exchange.

Tarmac registers a route of type ``function`` as the callback
``tarmac:function:NAME``, which runs ``runWASM(NAME, "handler", payload)``: the
callee's ``handler`` operation with the caller's payload, its response the
host call's answer; a callee that fails fails the host call with
``failed to execute wasm module - <why>`` and no body. A name no route
registered answers ``callback not found``.

Here the callee runs in this process, in the same run: the same engine and
limits (its time comes out of the caller's exchange: it gets no more than the
caller has left, and running out of it ends the caller's run with the timeout
limit too), the same host-call handler (stub rules, the preset with its
kvstore and SQL backends, ``--record``), the same log and trace sinks (its
steps appear inside the caller's host call). Each module compiles once per
run; each call gets a fresh instance (Tarmac reuses pooled instances, so a
callee's globals may outlive a call there: do not rely on either). On an
engine that cannot stop a guest in-process (wasmer), each call runs in a
supervised child process of its own instead (compiled there, each call).
Calls nest at most :data:`MAX_DEPTH` deep: a deeper one is a failed host call.
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ...engines.base import Limits
from ...errors import GuestError, LimitExceeded, WapcError
from ...runtime import budget
from ...runtime.hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply
from ...runtime.limits import needs_supervision
from ...runtime.session import EventSink, HostAbort, LogSink
from ...runtime.wasi import WasiOptions

if TYPE_CHECKING:
    from ...runtime.cache import ModuleCache
    from ...runtime.guest import WapcModule

#: How deep function calls may nest below the run's own exchange.
MAX_DEPTH = 8
#: The operation Tarmac calls on a function (``runWASM(name, "handler", ...)``).
HANDLER = "handler"
#: Tarmac's answer to a callback no route registered (wapc-toolkit's ErrNotFound).
NOT_FOUND = "callback not found"


class FunctionRunner:
    """Runs ``function:NAME`` callees; one per run, shared by every nesting level.

    ``handler`` (the run's whole host-call handler), ``tracer`` and ``on_log`` are
    set once the run's setup is known (:meth:`configure`, :meth:`attach`).
    """

    def __init__(self, functions: dict[str, Path]) -> None:
        self.functions = dict(functions)
        self.handler: HostCallHandler | None = None
        self.engine = "auto"
        self.limits = Limits()
        self.cache: ModuleCache | None = None
        self.tracer: EventSink | None = None
        self.on_log: LogSink | None = None
        self.depth = 0
        self._modules: dict[str, WapcModule] = {}
        self._spans = itertools.count(1)

    def configure(self, *, engine: str, limits: Limits, cache: ModuleCache | None) -> None:
        """Run callees on ``engine`` under ``limits`` (the caller's), compiled via ``cache``."""
        self.engine, self.limits, self.cache = engine, limits, cache

    def attach(self, tracer: EventSink | None, on_log: LogSink | None) -> None:
        """Send callees' steps to ``tracer`` and their log lines to ``on_log``."""
        self.tracer, self.on_log = tracer, on_log

    def __call__(self, name: str, payload: bytes) -> bytes:
        """The callee's response; a failure raises HostCallError (a failed host call)."""
        path = self.functions.get(name)
        if path is None:
            raise HostCallError(NOT_FOUND)
        if self.depth >= MAX_DEPTH:
            raise HostCallError(f"function calls nested deeper than {MAX_DEPTH} "
                                f"(function:{name} not run)")
        tracer = self.tracer
        span = next(self._spans)
        if tracer is not None:
            from ..trace import FunctionCall

            tracer(FunctionCall(0, 0, name, str(path), len(payload), span))
        started = time.perf_counter_ns()
        self.depth += 1
        outcome, message, response = "stopped", None, b""
        try:
            response = self._run(name, path, payload)
            outcome = "ok"
            return response
        except HostCallError as exc:
            outcome, message = "error", exc.message
            raise
        finally:
            self.depth -= 1
            if tracer is not None:
                from ..trace import FunctionReturn

                tracer(FunctionReturn(0, time.perf_counter_ns() - started, name, span,
                                      outcome, message, len(response)))

    # -- one call -------------------------------------------------------------------------
    def _run(self, name: str, path: Path, payload: bytes) -> bytes:
        limits, cut = self._call_limits()
        aborted: list[HostAbort] = []
        handler = self._nested_handler(aborted)
        try:
            if needs_supervision(self.engine, limits):
                response = self._run_supervised(name, path, payload, limits, handler)
            else:
                response = self._run_here(name, path, payload, limits, handler)
        except HostAbort:
            raise
        except LimitExceeded as exc:
            if aborted:
                raise aborted[0] from None
            if exc.limit == "timeout" and cut:
                # The caller's time ran out in here: its run ends with the timeout.
                raise budget.OutOfTime(f"the handler of {path.name}") from None
            raise HostCallError(f"failed to execute wasm module - {exc}") from None
        except (GuestError, WapcError) as exc:
            if aborted:
                raise aborted[0] from None  # a stub table stopped the run inside the callee
            raise HostCallError(f"failed to execute wasm module - {exc}") from None
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
                    from ..trace import AbortedHostCall

                    took = time.perf_counter_ns() - started
                    tracer(AbortedHostCall(0, took, request.binding, request.namespace,
                                           request.operation, request.payload, 0, b"",
                                           str(exc.error), "default: fail"))
                raise

        return answer

    def _module(self, name: str, path: Path) -> WapcModule:
        module = self._modules.get(name)
        if module is None:
            from ...runtime.guest import load_module

            try:
                module = load_module(path, engine=self.engine, limits=self.limits,
                                     cache=self.cache)
            except WapcError as exc:
                # Tarmac refuses to start with a module it cannot load: so does this run.
                raise HostAbort(exc) from None
            self._modules[name] = module
        return module

    def _run_here(self, name: str, path: Path, payload: bytes, limits: Limits,
                  handler: HostCallHandler) -> bytes:
        module = self._module(name, path)
        if limits is not module.limits:
            module = copy.copy(module)  # the same compiled code, under the cut timeout
            module.limits = limits
        guest = module.instantiate(handler, on_log=self.on_log, tracer=self.tracer,
                                   wasi=WasiOptions(program_name=path.name))
        return guest.call(HANDLER, payload)

    def _run_supervised(self, name: str, path: Path, payload: bytes, limits: Limits,
                        handler: HostCallHandler) -> bytes:
        from ...isolation import run_supervised
        from ...runtime.loading import read_module_file

        try:
            wasm = read_module_file(path)
        except WapcError as exc:
            raise HostAbort(exc) from None
        outcome = run_supervised(
            wasm, operation=HANDLER, payload=payload, name=str(path), engine=self.engine,
            limits=limits, wasi=WasiOptions(program_name=path.name), host_call=handler,
            on_log=self.on_log, tracer=self.tracer,
        )
        if outcome.error is not None:
            if not outcome.started:  # it did not compile: as _module() says
                raise HostAbort(outcome.error)
            raise outcome.error
        return outcome.response or b""
