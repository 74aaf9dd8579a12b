"""A host profile applied to one guest: its handler, imports, WASI, init and result rules.

:class:`ProfileRules` is the one place that acts on a
:class:`~wapc_cli.runtime.profiles.HostProfile`; the guest lifecycle only calls
it (and only when the profile is not the default, so ``wapc`` costs nothing).
Each place it departs from the spec's behaviour it notes a *deviation*: one
line naming the host and what it does differently, attached to the trace event
of that step and kept (bounded) for ``wapc compat``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..engines.base import EngineInstance, FuncSig, HostFn, ImportDecl
from ..errors import GuestError, GuestTrap, LimitExceeded, WapcError
from ..wasm.constants import U32_MASK
from .hostcalls import HostCallError, HostCallHandler, HostCallRequest, HostReply, no_handler
from .outcome import profile_result
from .profiles import WAPC, HostProfile, get_profile
from .wasi_types import ProcExit

if TYPE_CHECKING:
    from .events import Event
    from .session import EventSink, WapcSession

#: The most deviations one guest keeps (a guest can deviate in a loop).
MAX_DEVIATIONS = 64

#: @wapc/host's WASI stub: the three functions it defines (callbacks.ts:107-150).
_STUB_SIGS = {
    "fd_write": FuncSig(("i32",) * 4, ("i32",)),
    "args_sizes_get": FuncSig(("i32", "i32"), ("i32",)),
    "args_get": FuncSig(("i32", "i32"), ("i32",)),
}


def rules_for(profile: HostProfile | str) -> ProfileRules | None:
    """The rules of ``profile`` (a name or a profile); None for the default, which has none."""
    chosen = get_profile(profile)
    return None if chosen.is_default else ProfileRules(chosen)


class ProfileRules:
    """What one guest's host does where the spec is silent, as its profile says."""

    def __init__(self, profile: HostProfile) -> None:
        self.profile = profile
        self.session: WapcSession | None = None
        #: Deviations not yet attached to their event, by event name.
        self.pending: dict[str, str] = {}
        #: Every deviation seen so far (first occurrence order, at most MAX_DEVIATIONS).
        self.deviations: dict[str, None] = {}
        #: The exit code a wazero-style host closed the module with (None: open).
        self.closed_code: int | None = None
        self.in_call = False
        self._carried: bytes | None = None

    def note(self, event: str, text: str) -> None:
        """A deviation at the step ``event`` names (its trace event's ``name``)."""
        self.pending[event] = text
        if len(self.deviations) < MAX_DEVIATIONS:
            self.deviations[text] = None

    def wrap(
        self, handler: HostCallHandler, tracer: EventSink | None
    ) -> tuple[HostCallHandler, EventSink | None]:
        """The guest's handler and tracer, as this host answers and as its trace shows it."""
        return self.handler(handler), None if tracer is None else self.tracer(tracer)

    # -- what the guest sees of host calls -------------------------------------------
    def handler(self, inner: HostCallHandler) -> HostCallHandler:
        """``inner``, answering as this host does (no-handler text, error texts, bodies)."""
        profile, label = self.profile, self.profile.label

        def answer(request: HostCallRequest) -> bytes | HostReply:
            if inner is no_handler:
                return self._no_handler(request)
            try:
                reply = inner(request)
            except HostCallError as exc:
                reply = HostReply(exc.body, exc.message)
            if reply.__class__ is bytes or not isinstance(reply, HostReply) or reply.ok:
                return reply
            if reply == no_handler(request):  # nothing answers, through a wrapper or a relay
                return self._no_handler(request)
            body, message = reply.body, profile.host_error_format.format(message=reply.error)
            if profile.host_response_after_failed_call == "empty" and body:
                self.note("host_call", f"{label} clears the host response after a failed host "
                          f"call: __host_response_len is 0, not the {len(body)} bytes of its body")
                body = b""
            elif message != reply.error:
                self.note("host_call", f"{label} hands the guest the error as "
                          f"{profile.host_error_format.format(message='...')!r}")
            return HostReply(body, message, reply.source)

        return answer

    def _no_handler(self, request: HostCallRequest) -> HostReply:
        text, label = self.profile.no_handler_error, self.profile.label
        if text is None:  # wapc-go's nil handler: 0, no error, the host response untouched
            self.note("host_call", f"{label} fails a host call nothing answers with NO error "
                      "text (__host_error_len is 0)")
            session = self.session
            return HostReply((session.host_body if session else None) or b"", "")
        if text != WAPC.no_handler_error:
            self.note("host_call", f"{label}'s error when nothing answers host calls: "
                      f"{text.split(' Guest called')[0]}")
        return HostReply(b"", text.format(binding=request.binding, namespace=request.namespace,
                                          operation=request.operation))

    def tracer(self, emit: EventSink) -> EventSink:
        """``emit``, with each step's deviation attached to its event."""
        pending = self.pending

        def traced(event: Event) -> None:
            if pending:
                text = pending.pop(event.name, None)
                if text is not None:
                    event = dataclasses.replace(event, deviation=text)
            emit(event)

        return traced

    def bind(self, session: WapcSession) -> None:
        """Make ``session``'s imports this host's, where it differs (before they are linked)."""
        self.session = session
        profile = self.profile
        if profile.host_error_length == "utf16":
            session.host_error_len = self._utf16_error_len  # type: ignore[method-assign]
            session.host_error = self._cut_host_error  # type: ignore[method-assign]
        if profile.guest_response_clears_error:
            plain_response = session.guest_response

            def guest_response(ptr: int, length: int) -> None:
                plain_response(ptr, length)
                if session.error is not None:
                    self.note("guest_response", f"{profile.label} clears the guest error when "
                              "the guest sets a response")
                    session.error = None

            session.guest_response = guest_response  # type: ignore[method-assign]
        if profile.guest_request_outside_call is not None:
            plain_request, refusal = session.guest_request, profile.guest_request_outside_call

            def guest_request(op_ptr: int, ptr: int) -> None:
                if not self.in_call:
                    raise session.checked.fail(refusal)
                plain_request(op_ptr, ptr)

            session.guest_request = guest_request  # type: ignore[method-assign]
        if profile.strict_utf8:
            self._bind_strict_utf8(session)
        if profile.env_imports.get("abort") == "exit":
            def env_abort(msg_ptr: int, file_ptr: int, line: int, column: int) -> None:
                self.note("return", f"{profile.label}'s env.abort closes the module (exit 255)")
                session.fault = ProcExit(255)
                raise session.fault

            session.env_abort = env_abort  # type: ignore[method-assign]

    def _bind_strict_utf8(self, session: WapcSession) -> None:
        """wapc-rs's imports turn the guest's text into Rust strings with ``?``: bytes that
        are not UTF-8 trap, with the conversion's error (``{:?}`` of a Utf8Error)."""
        checked, label = session.checked, self.profile.label
        plain_log, plain_call, plain_error = \
            session.console_log, session.host_call, session.guest_error

        def require(event: str, where: str, noun: str, data: bytes, owned: bool = False) -> None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                incomplete = exc.reason == "unexpected end of data"
                length = "None" if incomplete else f"Some({exc.end - exc.start})"
                error = f"Utf8Error {{ valid_up_to: {exc.start}, error_len: {length} }}"
                if owned:  # String::from_utf8 keeps the bytes in its error
                    shown = ", ".join(str(b) for b in data[:64])
                    more = ", .." if len(data) > 64 else ""
                    error = f"FromUtf8Error {{ bytes: [{shown}{more}], error: {error} }}"
                self.note(event, f"{label} traps on text that is not UTF-8 ({where})")
                raise checked.fail(f"{where}: cannot convert {noun} to UTF8: {error}") from None

        def console_log(ptr: int, length: int) -> None:
            require("console_log", "console_log", "message",
                    checked.read("__console_log", ptr, length))
            plain_log(ptr, length)

        def host_call(bind_ptr: int, bind_len: int, ns_ptr: int, ns_len: int,
                      op_ptr: int, op_len: int, ptr: int, length: int) -> int:
            for noun, start, size in (("bd", bind_ptr, bind_len), ("ns", ns_ptr, ns_len),
                                      ("op", op_ptr, op_len)):
                require("host_call", "host_call", noun, checked.read("__host_call", start, size))
            return plain_call(bind_ptr, bind_len, ns_ptr, ns_len, op_ptr, op_len, ptr, length)

        def guest_error(ptr: int, length: int) -> None:
            require("guest_error", "guest_error_func", "message",
                    checked.read("__guest_error", ptr, length), owned=True)
            plain_error(ptr, length)

        session.console_log = console_log  # type: ignore[method-assign]
        session.host_call = host_call  # type: ignore[method-assign]
        session.guest_error = guest_error  # type: ignore[method-assign]

    def _utf16_error_len(self) -> int:
        fault = self.session.host_fault if self.session else None
        text = (fault or b"").decode("utf-8", "replace")
        units = len(text.encode("utf-16-le")) // 2
        if units != len(fault or b""):
            self.note("host_error_len", f"{self.profile.label} counts the host error in UTF-16 "
                      f"units ({units}), not UTF-8 bytes ({len(fault or b'')}): it is cut short")
        return units

    def _cut_host_error(self, ptr: int) -> None:
        session = self.session
        assert session is not None
        fault = session.host_fault
        if fault is None:
            raise session.checked.fail("__host_error called with no pending host error")
        session.checked.write("__host_error", ptr, fault[: self._utf16_error_len()])

    # -- linking ------------------------------------------------------------------------
    def check_links(
        self, imports: Sequence[ImportDecl], report: Callable[[str, int, int, str], None],
    ) -> None:
        """Refuse, as this host's linker would, an import it does not provide (``report``:
        where the failed instantiation is traced, with the deviation)."""
        profile = self.profile
        self.in_call = False  # an instance is being built: init, not a call
        for index, decl in enumerate(imports):
            module, name = decl.module, decl.name
            if module == "wapc":
                continue
            if module == "env":
                has_module, offered = bool(profile.env_imports), name in profile.env_imports
            else:
                has_module = module in profile.wasi_modules or module in profile.wasi_stub_modules
                offered = module in profile.wasi_modules or (
                    module in profile.wasi_stub_modules and name in _STUB_SIGS)
            if not offered:
                self.note("init", f"{profile.label} does not provide the import {module}.{name}")
                report("instantiate", 0, 0, "trap")
                text = profile.unknown_import if has_module or profile.unknown_module is None \
                    else profile.unknown_module
                raise GuestTrap(text.format(module=module, name=name, index=index),
                                phase="instantiation")

    def wasi_functions(
        self, wanted: Sequence[tuple[str, str, FuncSig]],
        full: Callable[[Sequence[tuple[str, str, FuncSig]]], dict[tuple[str, str], HostFn]],
    ) -> dict[tuple[str, str], HostFn]:
        """The WASI functions this host offers for ``wanted``: its full WASI (``full``)
        under its modules, @wapc/host's stub under the stub's."""
        profile = self.profile
        functions = full([w for w in wanted if w[0] in profile.wasi_modules])
        for module, name, sig in wanted:
            if module in profile.wasi_stub_modules and _STUB_SIGS.get(name) == sig:
                functions[(module, name)] = getattr(self, f"_stub_{name}")
        return functions

    def _stub_fd_write(self, fd: int, iovs: int, count: int, written: int) -> int:
        """@wapc/host's fd_write: fd 1 to a writer that drops it, the byte count as errno."""
        if fd != 1:
            return 0
        session = self.session
        assert session is not None
        total = 0
        for index in range(min(count & U32_MASK, 1024)):
            entry = session.checked.read("fd_write", (iovs & U32_MASK) + 8 * index, 8)
            total += int.from_bytes(entry[4:], "little")
        session.checked.write("fd_write", written, (total & U32_MASK).to_bytes(4, "little"))
        if total:
            self.note("console_log", f"{self.profile.label}'s WASI stub drops stdout and "
                      f"returns the byte count ({total}) as fd_write's errno")
        return total & U32_MASK

    def _stub_args_sizes_get(self, argc: int, size: int) -> int:
        session = self.session
        assert session is not None
        session.checked.write("args_sizes_get", argc, bytes(4))
        session.checked.write("args_sizes_get", size, bytes(4))
        return 0

    def _stub_args_get(self, argv: int, buf: int) -> int:
        return 0

    # -- init -------------------------------------------------------------------------
    def skipped_init(self, export: str) -> str:
        """The deviation of not calling the init export ``export``."""
        if self.closed_code is not None:
            text = f"{self.profile.label} closed the module (proc_exit) before `{export}`"
        else:
            text = f"{self.profile.label} does not call `{export}`"
        self.note("init", text)
        return text

    def init_exited(self, code: int) -> None:
        """Init ended with proc_exit(``code``) (0: not a failure here)."""
        if self.profile.init_exit_zero == "close":
            self.closed_code = code
            self.note("init", f"{self.profile.label}'s proc_exit({code}) closes the module: "
                      "every later call fails")

    def init_error(self, error: WapcError, export: str) -> WapcError:
        """``error`` (init export ``export`` failed) in this host's words."""
        if not isinstance(error, GuestTrap) or isinstance(error, LimitExceeded):
            return error
        session = self.session
        exited = isinstance(session.fault if session else None, ProcExit)
        failure = self.profile.init_exit_failure if exited else self.profile.init_failure
        return GuestTrap(failure.format(export=export, error=self._exit_text(error.message)),
                         guest_error=error.guest_error, frames=error.frames, phase=error.phase)

    def _exit_text(self, message: str) -> str:
        session = self.session
        fault = session.fault if session else None
        if isinstance(fault, ProcExit):
            return self.profile.exit_text.format(code=fault.code)
        return message

    # -- calls ---------------------------------------------------------------------------
    def begin(self, operation: bytes, payload: bytes) -> None:
        """Start an exchange; a host that does not reset keeps the previous response/error."""
        session = self.session
        assert session is not None
        self.pending.clear()
        self.in_call = True
        response, error = session.response, session.error
        session.begin(operation, payload)
        if not self.profile.reset_per_call:
            session.response, session.error = response, error
            self._carried = response
        if self.closed_code is not None:
            raise GuestTrap(self.profile.trap_format.format(
                error=self.profile.exit_text.format(code=self.closed_code)))

    def result(self, result: int) -> bytes:
        """The response of a finished exchange under this host's rule, or its error."""
        session = self.session
        assert session is not None
        carried = session.response is not None and session.response is self._carried
        value, why = profile_result(self.profile.result_rule, session, result, carried)
        if why is not None:
            self.note("return", why)
        if isinstance(value, bytes):
            return value
        if isinstance(value, GuestError):
            fmt = self.profile.guest_error_format
            raise GuestError(fmt.format(error=value.message), value.raw) from None
        raise value

    def call_trap(self, error: WapcError) -> WapcError:
        """A trap during a call in this host's words (a wazero host closes on proc_exit)."""
        if not isinstance(error, GuestTrap) or isinstance(error, LimitExceeded):
            return error
        session = self.session
        if isinstance(session.fault if session else None, ProcExit) and \
                self.profile.init_exit_zero == "close":
            self.closed_code = session.fault.code  # type: ignore[union-attr]
        return GuestTrap(self.profile.trap_format.format(error=self._exit_text(error.message)),
                         guest_error=error.guest_error, frames=error.frames, phase=error.phase)

    def after_trap(
        self, error: WapcError, instance: EngineInstance | None
    ) -> tuple[WapcError, EngineInstance | None]:
        """A call's trap in this host's words, and the instance the next call runs on
        (None: a new one; most hosts reuse the one that trapped, a limit never does)."""
        error = self.call_trap(error)
        if self.profile.rebuild_after_trap or isinstance(error, LimitExceeded):
            instance = None
        return error, instance
