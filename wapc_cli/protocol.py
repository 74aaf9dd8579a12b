"""The waPC exchange, engine-neutral: the nine ``wapc`` imports and their state.

Everything here is written against :class:`~wapc_cli.engines.base.GuestMemory`.
Every pointer/length a guest passes is untrusted: it is read as unsigned 32-bit
and checked against the current memory size before memory is touched, and any
violation becomes a :class:`GuestFault` that ends the guest call as a trap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .engines.base import GuestMemory
from .hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply

_U32 = 0xFFFFFFFF


def _load_events() -> Any:
    """Import the trace event classes and bind them to this module's ``ev``.

    Defining them costs ~10 ms, a tenth of a one-shot call that does not trace,
    so the core imports them only when a session traces (see ``_LazyEvents``).
    """
    from . import events

    globals()["ev"] = events
    return events


class _LazyEvents:
    """``ev`` until first used; then :func:`_load_events` puts the module in its place,
    so a traced step pays one global lookup, as with a plain import."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load_events(), name)


if TYPE_CHECKING:
    from . import events as ev
else:
    ev = _LazyEvents()


class GuestFault(Exception):
    """Raised inside an import: the guest broke the ABI; the call ends as a trap.

    Host functions raise it so the engine unwinds the guest; the session also
    keeps it in ``fault`` because not every engine hands the Python exception
    back unchanged.
    """


class HostAbort(Exception):
    """Raised inside an import to stop the run for a host-side reason (e.g. a stub
    table's ``default: fail``). ``error`` is the WapcError to report."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


LogSink = Callable[[str, str], None]  # (message, source)
EventSink = Callable[["ev.Event"], None]

#: Decoded host-call names (binding, namespace, operation) by their bytes: a guest
#: uses a few names over and over. Bounded: short names only, and at most
#: _NAMES_MAX of them (the dict starts over when full).
_NAMES: dict[bytes, str] = {}
_NAMES_MAX = 512
_NAME_MAX_LEN = 128


def _decode_name(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if len(raw) <= _NAME_MAX_LEN:
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        _NAMES[raw] = text
    return text


def _as_reply(answer: object) -> HostReply:
    """A handler's return value other than plain bytes, as a HostReply."""
    if isinstance(answer, HostReply):
        return answer
    if isinstance(answer, (bytes, bytearray, memoryview)):
        return HostReply(bytes(answer))
    if isinstance(answer, str):
        return HostReply(answer.encode("utf-8"))
    if answer is None:
        return HostReply(b"")
    return HostReply(
        error=f"host call handler returned {type(answer).__name__}, expected bytes"
    )


class WapcSession:
    """Per-instance protocol state plus the import functions that act on it.

    State lives for one exchange (``begin`` resets it): no response, error or
    host answer can leak from one guest call into the next.
    """

    def __init__(
        self,
        handler: HostCallHandler,
        on_log: LogSink | None = None,
        tracer: EventSink | None = None,
    ) -> None:
        self.handler = handler
        self.on_log = on_log
        self.tracer = tracer
        if tracer is not None:
            _load_events()  # now, not inside the first timed step
        self._memory: GuestMemory | None = None
        self._view: Callable[[], memoryview] | None = None
        self.fault: BaseException | None = None
        self.begin(b"", b"")
        self.t0 = time.perf_counter_ns()

    @property
    def memory(self) -> GuestMemory | None:
        """The guest's linear memory (None until instantiation has handed it over)."""
        return self._memory

    @memory.setter
    def memory(self, memory: GuestMemory | None) -> None:
        self._memory = memory
        # An engine's memory may also lend a memoryview of all of it (wasmtime's
        # fast path): the imports then check against its length and slice it,
        # a call and a second bounds check fewer per access than read()/write().
        self._view = getattr(memory, "view", None)

    # -- exchange state --------------------------------------------------
    def begin(self, operation: bytes, payload: bytes) -> None:
        self.operation = operation
        self.payload = payload
        self.response: bytes | None = None  # set by __guest_response
        self.error: bytes | None = None  # set by __guest_error
        self.host_body: bytes | None = None  # None: no host call made yet
        self.host_fault: bytes | None = None  # the host error text, UTF-8
        self.host_calls = 0
        self.warnings: list[str] = []
        self.fault = None
        if self.tracer is not None:  # timestamps exist only for trace events
            self.t0 = time.perf_counter_ns()

    def _now(self) -> int:
        return time.perf_counter_ns() - self.t0

    def _fail(self, message: str) -> GuestFault:
        fault = GuestFault(message)
        self.fault = fault
        return fault

    def _span(self, what: str, ptr: int, length: int) -> tuple[int, int]:
        """Normalise (ptr, length) to unsigned and check they lie inside memory."""
        ptr &= _U32
        length &= _U32
        memory = self.memory
        if memory is None:
            # Every checked guest exports a memory, but the engine hands it over only
            # once instantiation is done: this is an import called by the start section.
            raise self._fail(
                f"{what}: guest memory is not reachable yet (called from the start "
                "section; this host reads guest memory only after instantiation)"
            )
        size = memory.size()
        if ptr + length > size:
            raise self._fail(
                f"{what}: pointer {ptr:#x} + length {length} is outside guest memory "
                f"({size} bytes)"
            )
        return ptr, length

    def _beyond(self, what: str, ptr: int, length: int, size: int) -> GuestFault:
        """The fault for a span beyond ``size``, worded by _span (which raises it)."""
        self._span(what, ptr, length)
        # Only a view shorter than memory.size() gets here: still no truncated access.
        return self._fail(
            f"{what}: pointer {ptr:#x} + length {length} is outside guest memory "
            f"({size} bytes)"
        )

    def _read(self, what: str, ptr: int, length: int) -> bytes:
        # Hot path: the same unsigned check as _span, inlined; _span only words the fault.
        ptr &= _U32
        length &= _U32
        view = self._view
        if view is not None:
            mem = view()
            if ptr + length > len(mem):
                raise self._beyond(what, ptr, length, len(mem))
            return mem[ptr : ptr + length].tobytes() if length else b""
        memory = self._memory
        if memory is None or ptr + length > memory.size():
            self._span(what, ptr, length)
        assert memory is not None
        return memory.read(ptr, length) if length else b""

    def _write(self, what: str, ptr: int, data: bytes) -> None:
        ptr &= _U32
        view = self._view
        if view is not None:
            mem = view()
            end = ptr + len(data)
            if end > len(mem):
                raise self._beyond(what, ptr, len(data), len(mem))
            if data:
                mem[ptr:end] = data
            return
        memory = self._memory
        if memory is None or ptr + len(data) > memory.size():
            self._span(what, ptr, len(data))
        if data:
            assert memory is not None
            memory.write(ptr, data)

    # -- the nine imports ----------------------------------------------------
    def guest_request(self, op_ptr: int, ptr: int) -> None:
        start = time.perf_counter_ns() if self.tracer else 0
        self._write("__guest_request (operation)", op_ptr, self.operation)
        self._write("__guest_request (payload)", ptr, self.payload)
        if self.tracer:
            self.tracer(
                ev.GuestRequest(
                    start - self.t0, time.perf_counter_ns() - start, op_ptr & _U32,
                    ptr & _U32, len(self.operation), len(self.payload),
                )
            )

    def guest_response(self, ptr: int, length: int) -> None:
        start = time.perf_counter_ns() if self.tracer else 0
        self.response = self._read("__guest_response", ptr, length)
        if self.tracer:
            self.tracer(
                ev.GuestResponse(
                    start - self.t0, time.perf_counter_ns() - start, ptr & _U32,
                    length & _U32, self.response,
                )
            )

    def guest_error(self, ptr: int, length: int) -> None:
        start = time.perf_counter_ns() if self.tracer else 0
        self.error = self._read("__guest_error", ptr, length)
        if self.tracer:
            self.tracer(
                ev.GuestErrorSet(
                    start - self.t0, time.perf_counter_ns() - start, ptr & _U32,
                    length & _U32, self.error.decode("utf-8", "replace"),
                )
            )

    def host_call(
        self,
        bind_ptr: int, bind_len: int, ns_ptr: int, ns_len: int,
        op_ptr: int, op_len: int, ptr: int, length: int,
    ) -> int:
        # The hot import: what _read does four times, with one look at the memory.
        # No guest code runs between the four reads, so the memory cannot grow.
        start = time.perf_counter_ns() if self.tracer else 0
        bind_ptr &= _U32
        bind_len &= _U32
        ns_ptr &= _U32
        ns_len &= _U32
        op_ptr &= _U32
        op_len &= _U32
        ptr &= _U32
        length &= _U32
        memory = self._memory
        view = self._view
        if view is not None:
            mem = view()
            size = len(mem)
        else:
            size = -1 if memory is None else memory.size()
        if (
            bind_ptr + bind_len > size or ns_ptr + ns_len > size
            or op_ptr + op_len > size or ptr + length > size
        ):
            raise self._host_call_fault(
                size, bind_ptr, bind_len, ns_ptr, ns_len, op_ptr, op_len, ptr, length
            )
        if view is not None:
            raw_binding = mem[bind_ptr : bind_ptr + bind_len].tobytes()
            raw_namespace = mem[ns_ptr : ns_ptr + ns_len].tobytes()
            raw_operation = mem[op_ptr : op_ptr + op_len].tobytes()
            payload = mem[ptr : ptr + length].tobytes()
        else:
            assert memory is not None
            read = memory.read
            raw_binding = read(bind_ptr, bind_len) if bind_len else b""
            raw_namespace = read(ns_ptr, ns_len) if ns_len else b""
            raw_operation = read(op_ptr, op_len) if op_len else b""
            payload = read(ptr, length) if length else b""
        names = _NAMES
        binding = names.get(raw_binding)
        if binding is None:
            binding = _decode_name(raw_binding)
        namespace = names.get(raw_namespace)
        if namespace is None:
            namespace = _decode_name(raw_namespace)
        operation = names.get(raw_operation)
        if operation is None:
            operation = _decode_name(raw_operation)
        request = HostCallRequest(binding, namespace, operation, payload)
        # Each host call replaces the previous answer, success or failure.
        self.host_calls += 1
        try:
            reply = self.handler(request)
        except Exception as exc:
            reply = self._raised(exc)
        # Plain bytes (the usual answer) skip building a HostReply on the hot path.
        if reply.__class__ is bytes:
            body: bytes = reply
            error = source = None
        else:
            answer = _as_reply(reply)
            body, error, source = answer.body, answer.error, answer.source
        self.host_body = body
        self.host_fault = None if error is None else error.encode("utf-8")
        result = 1 if error is None else 0
        if self.tracer:
            self.tracer(
                ev.HostCall(
                    start - self.t0, time.perf_counter_ns() - start, request.binding,
                    request.namespace, request.operation, request.payload, result,
                    body, error, source,
                )
            )
        return result

    def _host_call_fault(self, size: int, *spans: int) -> GuestFault:
        """The fault for the first of ``__host_call``'s four spans beyond ``size``."""
        whats = ("binding", "namespace", "operation", "payload")
        for what, ptr, length in zip(whats, spans[::2], spans[1::2], strict=True):
            if ptr + length > size:
                return self._beyond(f"__host_call ({what})", ptr, length, size)
        return self._fail("__host_call: a span is outside guest memory")

    def _raised(self, exc: Exception) -> HostReply:
        """What a handler's exception answers: a failed host call, or the end of the run."""
        if isinstance(exc, HostCallError):
            return HostReply(exc.body, exc.message)
        if isinstance(exc, HostAbort):
            self.fault = exc
            raise exc
        # A handler's bug must not escape through the guest.
        return HostReply(error=f"host call handler raised {type(exc).__name__}: {exc}")

    def _answer(self, request: HostCallRequest) -> HostReply | bytes:
        """The handler's answer to ``request``: bytes, or a HostReply for anything else
        (what ``host_call`` does inline; the supervisor answers a child's calls with it)."""
        try:
            answer = self.handler(request)
        except Exception as exc:
            return self._raised(exc)
        return answer if answer.__class__ is bytes else _as_reply(answer)

    def host_response_len(self) -> int:
        value = len(self.host_body or b"")
        if self.tracer:
            self.tracer(ev.HostResponseLen(self._now(), 0, value))
        return value

    def host_response(self, ptr: int) -> None:
        start = time.perf_counter_ns() if self.tracer else 0
        if self.host_body is None:
            raise self._fail("__host_response called with no pending host response")
        self._write("__host_response", ptr, self.host_body)
        if self.tracer:
            self.tracer(
                ev.HostResponse(
                    start - self.t0, time.perf_counter_ns() - start, ptr & _U32,
                    len(self.host_body),
                )
            )

    def host_error_len(self) -> int:
        value = len(self.host_fault or b"")  # UTF-8 bytes, not characters
        if self.tracer:
            self.tracer(ev.HostErrorLen(self._now(), 0, value))
        return value

    def host_error(self, ptr: int) -> None:
        start = time.perf_counter_ns() if self.tracer else 0
        if self.host_fault is None:
            raise self._fail("__host_error called with no pending host error")
        self._write("__host_error", ptr, self.host_fault)
        if self.tracer:
            self.tracer(
                ev.HostError(
                    start - self.t0, time.perf_counter_ns() - start, ptr & _U32,
                    len(self.host_fault),
                )
            )

    def console_log(self, ptr: int, length: int) -> None:
        self.log(self._read("__console_log", ptr, length).decode("utf-8", "replace"), "wapc")

    def env_console_log(self, ptr: int, length: int) -> None:
        self.log(self._read("env.__console_log", ptr, length).decode("utf-8", "replace"), "env")

    def log(self, message: str, source: str) -> None:
        if self.on_log:
            self.on_log(message, source)
        if self.tracer:
            self.tracer(ev.ConsoleLog(self._now(), 0, message, source))

    def env_abort(self, msg_ptr: int, file_ptr: int, line: int, column: int) -> None:
        """AssemblyScript's ``abort(message, file, line, column)``: always a trap."""
        message = self._as_string(msg_ptr) or "abort"
        file = self._as_string(file_ptr) or "?"
        raise self._fail(f"abort: {message} at {file}:{line & _U32}:{column & _U32}")

    def _as_string(self, ptr: int) -> str | None:
        """Read an AssemblyScript string: UTF-16LE, byte length in the u32 before it."""
        ptr &= _U32
        if ptr == 0 or ptr < 4:
            return None
        try:
            header = self._read("env.abort", ptr - 4, 4)
            length = int.from_bytes(header, "little")
            return self._read("env.abort", ptr, min(length, 4096)).decode("utf-16-le", "replace")
        except GuestFault:
            self.fault = None
            return None

    def imports(self) -> dict[tuple[str, str], Callable[..., int | None]]:
        """The host functions this session provides, keyed by (module, name)."""
        return {
            ("wapc", "__guest_request"): self.guest_request,
            ("wapc", "__guest_response"): self.guest_response,
            ("wapc", "__guest_error"): self.guest_error,
            ("wapc", "__host_call"): self.host_call,
            ("wapc", "__host_response_len"): self.host_response_len,
            ("wapc", "__host_response"): self.host_response,
            ("wapc", "__host_error_len"): self.host_error_len,
            ("wapc", "__host_error"): self.host_error,
            ("wapc", "__console_log"): self.console_log,
            ("env", "__console_log"): self.env_console_log,
            ("env", "abort"): self.env_abort,
        }
