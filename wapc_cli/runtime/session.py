"""The waPC exchange, engine-neutral: the nine ``wapc`` imports and their state.

Every pointer/length a guest passes is untrusted: the imports reach guest
memory only through :class:`~wapc_cli.runtime.memory.CheckedMemory`, which
reads them as unsigned 32-bit, checks them against the current memory size
before memory is touched, and turns any violation into a
:class:`~wapc_cli.runtime.memory.GuestFault` that ends the guest call as a trap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..engines.base import GuestMemory, HostFn, NativeHostFn
from ..wasm.constants import U32_MASK
from .budget import CURRENT, OutOfTime
from .exchange_state import NATIVE_CALLBACKS, ExchangeState
from .hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply
from .memory import CheckedMemory, GuestFault

if TYPE_CHECKING:
    from .events import Event


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


class WapcSession(ExchangeState):
    """Per-instance protocol state plus the import functions that act on it.

    State lives for one exchange (``begin`` resets it): no response, error or
    host answer can leak from one guest call into the next. ``checked`` is the
    guest's memory behind its bounds checks, shared with the WASI host.
    ``deadline`` is when the exchange under way runs out of time
    (``time.monotonic()``; None: no time limit), set by whoever starts it: host
    calls are answered within it (:mod:`.budget`).

    The state's fields live in :data:`~.exchange_state.ExchangeState` (C members
    when the extension is built), and :meth:`native_imports` offers the nine
    waPC imports as C functions over them: each does its common case in C and
    calls the Python method of the same name below for everything else.
    """

    def __init__(self, handler: HostCallHandler, on_log: LogSink | None = None) -> None:
        self.handler = handler
        self.on_log = on_log
        self.checked = CheckedMemory(self)
        self.fault: BaseException | None = None
        self.deadline: float | None = None
        self.begin(b"", b"")

    @property
    def memory(self) -> GuestMemory | None:
        """The guest's linear memory (None until instantiation has handed it over)."""
        return self.checked.memory

    def attach(self, memory: GuestMemory | None, *, unsigned_args: bool = False) -> None:
        """Use ``memory`` from now on: see :meth:`CheckedMemory.attach`."""
        self.checked.attach(memory, unsigned_args=unsigned_args)
        self.native_memory(None if memory is None else memory.native_handle)

    def native_imports(self) -> dict[tuple[str, str], HostFn]:
        """The waPC imports as C functions, for an engine that takes them (else empty)."""
        env, prepare = id(self), self.native_prepare
        return {
            ("wapc", name): NativeHostFn(address, env, prepare, self)
            for name, address in NATIVE_CALLBACKS.items()
        }

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

    # -- the nine imports ----------------------------------------------------
    # These are what the engine calls, so they carry no tracing code
    # (wapc_cli.runtime.traced wraps them for a session that traces). The hot
    # ones test the common case inline: spans inside the cached view
    # (``view_size`` is -1 without one, so every span fails the test) and
    # arguments that need no unsigned reading (the fast wasmtime path hands them
    # over unsigned, so the sign test is skipped there; elsewhere a negative one
    # means >= 2**31). Anything else takes CheckedMemory.read/write, which
    # normalise, refresh the view and word the fault.
    def guest_request(self, op_ptr: int, ptr: int) -> None:
        operation, payload = self.operation, self.payload
        memory = self.checked
        size = memory.view_size
        op_end = op_ptr + len(operation)
        end = ptr + len(payload)
        if op_end <= size and end <= size and (memory.unsigned or (op_ptr | ptr) >= 0):
            view = memory.view
            assert view is not None  # view_size >= 0 means a view
            view[op_ptr:op_end] = operation
            if end != ptr:  # an empty payload (checked all the same) writes nothing
                view[ptr:end] = payload
            return
        memory.write("__guest_request (operation)", op_ptr, operation)
        memory.write("__guest_request (payload)", ptr, payload)

    def guest_response(self, ptr: int, length: int) -> None:
        memory = self.checked
        if ptr + length <= memory.view_size and (memory.unsigned or (ptr | length) >= 0):
            self.response = memory.chars[ptr : ptr + length] if length else b""
        else:
            self.response = memory.read("__guest_response", ptr, length)

    def guest_error(self, ptr: int, length: int) -> None:
        self.error = self.checked.read("__guest_error", ptr, length)

    def host_call(
        self,
        bind_ptr: int, bind_len: int, ns_ptr: int, ns_len: int,
        op_ptr: int, op_len: int, ptr: int, length: int,
    ) -> int:
        # The hot import: what read() does four times, with one bounds check of
        # the four spans. No guest code runs between the reads: memory cannot grow.
        memory = self.checked
        size = memory.view_size
        if (
            bind_ptr + bind_len <= size and ns_ptr + ns_len <= size
            and op_ptr + op_len <= size and ptr + length <= size
            and (
                memory.unsigned
                or (bind_ptr | bind_len | ns_ptr | ns_len | op_ptr | op_len | ptr | length) >= 0
            )
        ):
            chars = memory.chars
            raw_binding = chars[bind_ptr : bind_ptr + bind_len]
            raw_namespace = chars[ns_ptr : ns_ptr + ns_len]
            raw_operation = chars[op_ptr : op_ptr + op_len]
            payload = chars[ptr : ptr + length] if length else b""
        else:
            raw_binding, raw_namespace, raw_operation, payload = memory.read_spans(
                _HOST_CALL_SPANS, (bind_ptr, bind_len, ns_ptr, ns_len, op_ptr, op_len, ptr, length)
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
        # (native_exchange.c's host_call does these steps in this order too.)
        self.host_calls += 1
        request = HostCallRequest(binding, namespace, operation, payload)
        if self.deadline is not None:
            reply = self.reply_in_time(request)
        else:
            try:
                reply = self.handler(request)
            except Exception as exc:
                reply = self.failed_reply(exc)
        # Plain bytes (the usual answer) skip building a HostReply on the hot path.
        if reply.__class__ is bytes:
            self.host_body = reply
            self.host_fault = None
            return 1
        return self.settle_reply(reply)

    def settle_reply(self, reply: object) -> int:
        """Keep a handler's answer other than plain bytes; ``__host_call``'s result."""
        answer = _as_reply(reply)
        self.host_body = answer.body
        if answer.error is None:
            self.host_fault = None
            return 1
        self.host_fault = answer.error.encode("utf-8", "replace")
        return 0

    def reply_in_time(self, request: HostCallRequest) -> HostReply | bytes:
        """The handler's answer, given while the exchange has time left, else OutOfTime.

        The handler sees the deadline (``budget.remaining()``); an answer that
        comes after it ends the exchange all the same: host time counts.
        """
        deadline = self.deadline
        assert deadline is not None
        current = CURRENT
        previous, current.deadline = current.deadline, deadline
        try:
            reply = self.handler(request)
        except OutOfTime as exc:
            exc.key = request.key
            reply = self.failed_reply(exc)
        except Exception as exc:
            reply = self.failed_reply(exc)
        finally:
            current.deadline = previous
        if time.monotonic() >= deadline:
            late = OutOfTime("its answer came after the deadline")
            late.key = request.key
            self.fault = late
            raise late
        return reply

    def failed_reply(self, exc: Exception) -> HostReply:
        """What a handler's exception answers: a failed host call, or the end of the run."""
        if isinstance(exc, HostCallError):
            return HostReply(exc.body, exc.message)
        if isinstance(exc, HostAbort | OutOfTime):
            self.fault = exc
            raise exc
        # A handler's bug must not escape through the guest.
        return HostReply(error=f"host call handler raised {type(exc).__name__}: {exc}")

    def answer(self, request: HostCallRequest) -> HostReply | bytes:
        """The handler's answer to ``request``: bytes, or a HostReply for anything else
        (what ``host_call`` does inline; the supervisor answers a child's calls with it,
        within ``deadline`` when one is set). A :class:`HostAbort` from the handler
        propagates, as does :class:`~.budget.OutOfTime` when the deadline passed."""
        if self.deadline is not None:
            answer = self.reply_in_time(request)
        else:
            try:
                answer = self.handler(request)
            except Exception as exc:
                return self.failed_reply(exc)
        return answer if answer.__class__ is bytes else _as_reply(answer)

    def host_response_len(self) -> int:
        body = self.host_body
        return 0 if body is None else len(body)

    def host_response(self, ptr: int) -> None:
        body = self.host_body
        memory = self.checked
        if (
            body is not None and ptr + len(body) <= memory.view_size
            and (memory.unsigned or ptr >= 0)
        ):
            view = memory.view
            assert view is not None
            view[ptr : ptr + len(body)] = body
            return
        if body is None:
            raise memory.fail("__host_response called with no pending host response")
        memory.write("__host_response", ptr, body)

    def host_error_len(self) -> int:
        return len(self.host_fault or b"")  # UTF-8 bytes, not characters

    def host_error(self, ptr: int) -> None:
        if self.host_fault is None:
            raise self.checked.fail("__host_error called with no pending host error")
        self.checked.write("__host_error", ptr, self.host_fault)

    def console_log(self, ptr: int, length: int) -> None:
        text = self.checked.read("__console_log", ptr, length)
        self.log(text.decode("utf-8", "replace"), "wapc")

    def env_console_log(self, ptr: int, length: int) -> None:
        text = self.checked.read("env.__console_log", ptr, length)
        self.log(text.decode("utf-8", "replace"), "env")

    def log(self, message: str, source: str) -> None:
        """A line the guest logged (``__console_log``, WASI stdout/stderr)."""
        if self.on_log:
            self.on_log(message, source)

    def env_abort(self, msg_ptr: int, file_ptr: int, line: int, column: int) -> None:
        """AssemblyScript's ``abort(message, file, line, column)``: always a trap."""
        message = self._as_string(msg_ptr) or "abort"
        file = self._as_string(file_ptr) or "?"
        raise self.checked.fail(
            f"abort: {message} at {file}:{line & U32_MASK}:{column & U32_MASK}"
        )

    def _as_string(self, ptr: int) -> str | None:
        """Read an AssemblyScript string: UTF-16LE, byte length in the u32 before it."""
        ptr &= U32_MASK
        if ptr < 4:  # 0 is a null string; below 4 there is no room for the length
            return None
        try:
            header = self.checked.read("env.abort", ptr - 4, 4)
            length = int.from_bytes(header, "little")
            text = self.checked.read("env.abort", ptr, min(length, 4096))
            return text.decode("utf-16-le", "replace")
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


#: What the fault names for each of ``__host_call``'s four spans, in order.
_HOST_CALL_SPANS = (
    "__host_call (binding)", "__host_call (namespace)", "__host_call (operation)",
    "__host_call (payload)",
)
