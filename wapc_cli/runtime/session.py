"""The waPC exchange, engine-neutral: the nine ``wapc`` imports and their state.

Everything here is written against :class:`~wapc_cli.engines.base.GuestMemory`.
Every pointer/length a guest passes is untrusted: it is read as unsigned 32-bit
and checked against the current memory size before memory is touched, and any
violation becomes a :class:`GuestFault` that ends the guest call as a trap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, cast

from ..engines.base import GuestMemory
from .hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply

if TYPE_CHECKING:
    from .events import Event

_U32 = 0xFFFFFFFF


class Sliceable(Protocol):
    """What reads slice: a slice of it is a ``bytes`` object (a ctypes char array)."""

    def __getitem__(self, index: slice, /) -> bytes: ...


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
EventSink = Callable[["Event"], None]

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
        self._memory: GuestMemory | None = None
        self._view_of: Callable[[], memoryview] | None = None
        self._mem: memoryview | None = None  # the view, for writes
        self._chars: Sliceable = b""  # the same bytes; a slice of it is bytes
        self._size = -1  # len(self._mem), -1 without a view (every span fails)
        self._unsigned = False  # the engine hands i32 arguments over as u32
        self.fault: BaseException | None = None
        self.begin(b"", b"")
        self.t0 = time.perf_counter_ns()

    @property
    def memory(self) -> GuestMemory | None:
        """The guest's linear memory (None until instantiation has handed it over)."""
        return self._memory

    @memory.setter
    def memory(self, memory: GuestMemory | None) -> None:
        self.attach(memory)

    def attach(self, memory: GuestMemory | None, *, unsigned_args: bool = False) -> None:
        """Use ``memory`` from now on (an instance's, once instantiation is done).

        An engine's memory may also lend a memoryview of all of it (a ViewMemory:
        wasmtime's fast path). The imports then check against its length and
        slice it: no call into the engine per access. The view only goes stale by
        being too short (the guest grew memory), so only an access beyond it asks
        for a new one (_refresh). ``unsigned_args``: the engine's trampolines
        deliver i32 arguments as unsigned ints, so the hot imports need not test
        their sign (a negative one would otherwise mean a pointer >= 2**31).
        """
        self._memory = memory
        self._view_of = getattr(memory, "view", None)
        self._unsigned = unsigned_args
        if self._view_of is not None:
            self._refresh()
        else:
            self._mem, self._chars, self._size = None, b"", -1

    def _refresh(self) -> memoryview:
        """Take a new view of memory (and the byte array over it)."""
        assert self._view_of is not None
        mem = self._mem = self._view_of()
        self._size = len(mem)
        # Reads slice a ctypes char array over the same bytes: its slice is the
        # bytes object itself (~70 ns), where a memoryview slice is a view that
        # .tobytes() copies (~135 ns). Writes stay on the memoryview: assigning
        # to a char-array slice goes byte by byte.
        import ctypes  # loaded already by an engine that lends views

        chars = (ctypes.c_char * self._size).from_buffer(mem) if self._size else b""
        self._chars = cast(Sliceable, chars)  # typeshed types an Array's slice as a list
        return mem

    def _grown(self, what: str, ptr: int, length: int) -> memoryview:
        """A fresh view for an access beyond the cached one; a fault if still beyond."""
        mem = self._refresh()
        if ptr + length > len(mem):
            raise self._beyond(what, ptr, length, len(mem))
        return mem

    # -- exchange state --------------------------------------------------
    def begin(self, operation: bytes, payload: bytes) -> None:
        self.operation = operation
        self.payload = payload
        self.response: bytes | None = None  # set by __guest_response
        self.error: bytes | None = None  # set by __guest_error
        self.host_body: bytes | None = None  # None: no host call made yet
        self.host_fault: bytes | None = None  # the host error text, UTF-8
        self.host_calls = 0
        self.warnings: tuple[str, ...] = ()  # a tuple: no allocation per exchange
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
        if self._mem is not None:
            if ptr + length > self._size:
                self._grown(what, ptr, length)
            return self._chars[ptr : ptr + length]
        memory = self._memory
        if memory is None or ptr + length > memory.size():
            self._span(what, ptr, length)
        assert memory is not None
        return memory.read(ptr, length) if length else b""

    def _write(self, what: str, ptr: int, data: bytes) -> None:
        ptr &= _U32
        mem = self._mem
        if mem is not None:
            end = ptr + len(data)
            if end > len(mem):
                mem = self._grown(what, ptr, len(data))
            mem[ptr:end] = data
            return
        memory = self._memory
        if memory is None or ptr + len(data) > memory.size():
            self._span(what, ptr, len(data))
        if data:
            assert memory is not None
            memory.write(ptr, data)

    # -- the nine imports ----------------------------------------------------
    # With tracing off these are what the engine calls, so they carry no tracing
    # code (wapc_cli.runtime.traced wraps them when a session traces). The hot ones test
    # the common case inline: spans inside the cached view (``_size`` is -1
    # without one, so every span fails the test) and arguments that need no
    # unsigned reading (the fast wasmtime path hands them over unsigned, so the
    # sign test is skipped there; elsewhere a negative one means >= 2**31).
    # Anything else takes _read/_write, which normalise, refresh the view and
    # word the fault.
    def guest_request(self, op_ptr: int, ptr: int) -> None:
        operation, payload = self.operation, self.payload
        size = self._size
        if (
            op_ptr + len(operation) <= size and ptr + len(payload) <= size
            and (self._unsigned or (op_ptr | ptr) >= 0)
        ):
            mem = self._mem
            assert mem is not None  # _size >= 0 means a view
            mem[op_ptr : op_ptr + len(operation)] = operation
            mem[ptr : ptr + len(payload)] = payload
            return
        self._write("__guest_request (operation)", op_ptr, operation)
        self._write("__guest_request (payload)", ptr, payload)

    def guest_response(self, ptr: int, length: int) -> None:
        if ptr + length <= self._size and (self._unsigned or (ptr | length) >= 0):
            self.response = self._chars[ptr : ptr + length]
        else:
            self.response = self._read("__guest_response", ptr, length)

    def guest_error(self, ptr: int, length: int) -> None:
        self.error = self._read("__guest_error", ptr, length)

    def host_call(
        self,
        bind_ptr: int, bind_len: int, ns_ptr: int, ns_len: int,
        op_ptr: int, op_len: int, ptr: int, length: int,
    ) -> int:
        # The hot import: what _read does four times, with one bounds check of the
        # four spans. No guest code runs between the reads: memory cannot grow.
        size = self._size
        if (
            bind_ptr + bind_len <= size and ns_ptr + ns_len <= size
            and op_ptr + op_len <= size and ptr + length <= size
            and (
                self._unsigned
                or (bind_ptr | bind_len | ns_ptr | ns_len | op_ptr | op_len | ptr | length) >= 0
            )
        ):
            chars = self._chars
            raw_binding = chars[bind_ptr : bind_ptr + bind_len]
            raw_namespace = chars[ns_ptr : ns_ptr + ns_len]
            raw_operation = chars[op_ptr : op_ptr + op_len]
            payload = chars[ptr : ptr + length]
        else:
            raw_binding, raw_namespace, raw_operation, payload = self._host_call_spans(
                bind_ptr, bind_len, ns_ptr, ns_len, op_ptr, op_len, ptr, length
            )
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
        # Each host call replaces the previous answer, success or failure.
        self.host_calls += 1
        try:
            reply = self.handler(HostCallRequest(binding, namespace, operation, payload))
        except Exception as exc:
            reply = self._raised(exc)
        # Plain bytes (the usual answer) skip building a HostReply on the hot path.
        if reply.__class__ is bytes:
            self.host_body = reply
            self.host_fault = None
            return 1
        answer = _as_reply(reply)
        self.host_body = answer.body
        if answer.error is None:
            self.host_fault = None
            return 1
        self.host_fault = answer.error.encode("utf-8", "replace")
        return 0

    def _host_call_spans(self, *spans: int) -> tuple[bytes, bytes, bytes, bytes]:
        """``__host_call``'s four spans the careful way: unsigned, against a fresh
        view or the memory's own size; the fault for the first span outside memory."""
        spans = tuple(value & _U32 for value in spans)
        if self._mem is not None:  # the guest may have grown memory since the view was taken
            size = len(self._refresh())
        else:
            size = -1 if self._memory is None else self._memory.size()
        pairs = list(zip(spans[::2], spans[1::2], strict=True))
        whats = ("binding", "namespace", "operation", "payload")
        for what, (ptr, length) in zip(whats, pairs, strict=True):
            if ptr + length > size:
                raise self._beyond(f"__host_call ({what})", ptr, length, size)
        if self._mem is not None:
            chars = self._chars
            a, b, c, d = (chars[ptr : ptr + length] for ptr, length in pairs)
        else:
            assert self._memory is not None
            read = self._memory.read
            a, b, c, d = (read(ptr, length) if length else b"" for ptr, length in pairs)
        return a, b, c, d

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
        body = self.host_body
        return 0 if body is None else len(body)

    def host_response(self, ptr: int) -> None:
        body = self.host_body
        if body is not None and ptr + len(body) <= self._size and (self._unsigned or ptr >= 0):
            mem = self._mem
            assert mem is not None
            mem[ptr : ptr + len(body)] = body
            return
        if body is None:
            raise self._fail("__host_response called with no pending host response")
        self._write("__host_response", ptr, body)

    def host_error_len(self) -> int:
        return len(self.host_fault or b"")  # UTF-8 bytes, not characters

    def host_error(self, ptr: int) -> None:
        if self.host_fault is None:
            raise self._fail("__host_error called with no pending host error")
        self._write("__host_error", ptr, self.host_fault)

    def console_log(self, ptr: int, length: int) -> None:
        self.log(self._read("__console_log", ptr, length).decode("utf-8", "replace"), "wapc")

    def env_console_log(self, ptr: int, length: int) -> None:
        self.log(self._read("env.__console_log", ptr, length).decode("utf-8", "replace"), "env")

    def log(self, message: str, source: str) -> None:
        """A line the guest logged (``__console_log``, WASI stdout/stderr)."""
        if self.on_log:
            self.on_log(message, source)
        if self.tracer:
            from .events import ConsoleLog  # loaded when tracing only: see traced.py

            self.tracer(ConsoleLog(self._now(), 0, message, source))

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
        """The host functions this session provides, keyed by (module, name);
        each wrapped to report its step when the session traces."""
        plain: dict[tuple[str, str], Callable[..., int | None]] = {
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
        if self.tracer is None:
            return plain
        from .traced import traced_imports

        return traced_imports(self, self.tracer, plain)
