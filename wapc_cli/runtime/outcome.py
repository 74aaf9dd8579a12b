"""What a guest call amounts to: its response, or the one error to report.

An exchange ends in a result (``__guest_call``'s 1 or 0, with what the guest
set through the imports) or in something that unwound the guest early (a trap,
an ABI violation, ``proc_exit``, a host abort, a limit). Both are turned into
the response or a typed :class:`~wapc_cli.errors.WapcError` here, and a
failure after the guest grew its memory up to the max-memory limit is named as
such.
"""

from __future__ import annotations

import itertools

from ..engines import EngineTrap, Limits
from ..engines.base import GuestMemory
from ..errors import GuestError, GuestTrap, LimitExceeded, TrapFrame, WapcError
from ..wasm.constants import PAGE
from .budget import OutOfTime
from .limits import format_size
from .memory import GuestFault
from .session import HostAbort, WapcSession
from .wasi_types import ProcExit


def raise_guest_error(error: bytes) -> bytes:
    """Raise the plain guest error ``error`` (typed to return, for ``return raise_...``)."""
    raise GuestError(error.decode("utf-8", "replace"), error)


def exchange_result(session: WapcSession, result: int) -> bytes:
    """The response of an exchange that returned ``result``, or the error it amounts to.

    A guest that set both a response and an error and returned 1 gets its
    response, with a warning added to ``session.warnings``.
    """
    response, error = session.response, session.error
    if result == 1:
        if error is not None:
            session.warnings += (
                "guest set both a response and an error and returned 1; "
                "the response is used (some hosts check the error first)",
            )
        if response is None:
            if error is not None:
                raise GuestError(error.decode("utf-8", "replace"), error)
            raise GuestTrap(
                "guest returned 1 (success) but set no response with __guest_response"
            )
        return response
    if result == 0:
        if error is None:
            raise GuestError(
                "guest returned 0 (failure) without setting an error with __guest_error"
            )
        return raise_guest_error(error)
    raise GuestTrap(f"__guest_call returned {result}; waPC allows only 1 (success) or 0")


def profile_result(
    rule: str, session: WapcSession, result: int, carried: bool = False
) -> tuple[bytes | WapcError, str | None]:
    """What a host library makes of an exchange that returned ``result``: the response or
    the error, and (when it differs from :func:`exchange_result`) why, in a few words.

    ``rule`` names the library (``HostProfile.result_rule``; docs/hosts.md row g).
    ``carried``: the response is the previous call's (a host that does not reset it).
    """
    response, error = session.response, session.error
    text = None if error is None else error.decode("utf-8", "replace")
    if rule == "wapc-rs":  # wapc-rs host.rs:66-114
        if result == 0:
            return GuestError(text or "No error message set for call failure", error or b""), (
                None if error is not None else "with no error set, wapc-rs reports "
                "'No error message set for call failure'")
        if response is not None:
            return response, (
                None if result == 1 else f"wapc-rs takes any non-zero result ({result}) as success")
        if error is not None:
            return GuestError(text or "", error), "wapc-rs reports the guest error of a call "\
                "that returned non-zero without a response"
        return GuestError("No error message OR response set for call success"), None
    if rule == "wapc-go":  # wazero.go:440-465
        if error:  # `if ic.guestErr != ""`: an empty guest error is no error
            why = "wapc-go lets a guest error win even though __guest_call returned 1" \
                if result == 1 and response is not None else None
            return GuestError(text or "", error), why
        if result == 1:
            return (response or b""), (
                None if response is not None else "wapc-go answers an empty response when "
                "the guest returned 1 without setting one")
        return GuestError(f'call to "{session.operation.decode("utf-8", "replace")}" was '
                          "unsuccessful"), None
    if rule == "wapc-js":  # wapc-host.ts:90-121
        if result == 0:
            return GuestError(text or "", error or b""), None
        if response is None:
            return GuestError("Guest call succeeded, but guest response not set. This is a "
                              "bug in @wapc/host"), None
        why = "@wapc/host keeps the previous call's response when the guest sets none" \
            if carried else None
        if result != 1:
            why = f"@wapc/host takes any non-zero result ({result}) as success"
        return response, why
    try:
        return exchange_result(session, result), None
    except WapcError as exc:
        return exc, None


def classify_fault(
    exc: BaseException, session: WapcSession, limits: Limits, phase: str,
    wasm: bytes | None = None,
) -> WapcError:
    """The error for guest code that ended early with ``exc`` during ``phase``.

    The session's recorded ``fault`` wins over ``exc``: not every engine hands
    an exception raised inside an import back unchanged. With the module's
    bytes (``wasm``), the engine's frames get their source locations
    (:mod:`wapc_cli.wasm.symbols`, cached per module): only here, once a
    trap has happened.
    """
    fault = session.fault or exc
    guest_error = session.error
    before = guest_error.decode("utf-8", "replace") if guest_error is not None else None
    if isinstance(fault, HostAbort):
        if isinstance(fault.error, WapcError):
            return fault.error
        return GuestTrap(str(fault.error), phase=phase)
    if isinstance(fault, GuestFault):
        return GuestTrap(str(fault), guest_error=before, phase=phase)
    if isinstance(fault, ProcExit):
        return GuestTrap(
            f"guest exited with proc_exit({fault.code})", guest_error=before, phase=phase
        )
    if isinstance(fault, OutOfTime):
        return timeout_error(limits, f" (time ran out in {fault.where})", before, (), phase)
    if isinstance(fault, EngineTrap):
        info = fault.info
        if wasm is not None and info.frames:
            from ..wasm.symbols import symbolizer_for

            info = info._replace(frames=symbolizer_for(wasm).symbolize(info.frames))
        if info.kind == "timeout":
            return timeout_error(limits, "", before, info.frames, phase)
        if info.kind == "fuel":
            return LimitExceeded(
                "fuel", str(limits.fuel),
                f"fuel: the guest used up its budget of {limits.fuel} units",
                guest_error=before, frames=info.frames, phase=phase,
            )
        message = f"guest trapped: {info.message}"
        if info.frames:
            message += f" [at {frames_text(info.frames)}]"
        return GuestTrap(message, guest_error=before, frames=info.frames, phase=phase)
    if isinstance(fault, WapcError):
        return fault
    if isinstance(fault, RecursionError | MemoryError):
        return GuestTrap(f"host ran out of resources: {type(fault).__name__}", phase=phase)
    return GuestTrap(f"guest trapped: {fault}", guest_error=before, phase=phase)


def timeout_error(
    limits: Limits, where: str, guest_error: str | None, frames: tuple[TrapFrame, ...],
    phase: str,
) -> LimitExceeded:
    """The timeout limit, hit during ``phase`` (``where``: a note on where time ran out)."""
    figure = f"{limits.timeout_s:g}s"
    return LimitExceeded(
        "timeout", figure, f"timeout: the guest ran longer than {figure}{where}",
        guest_error=guest_error, frames=frames, phase=phase,
    )


def memory_limit_hit(
    error: WapcError, limit: int | None, memory: GuestMemory | None, before: int | None,
    request: tuple[int, int] = (0, 0),
) -> WapcError:
    """``error``, naming the max-memory limit when the guest failed for want of memory.

    No engine tells us that a ``memory.grow`` was refused (it returns -1, as
    WebAssembly says, and the guest goes on). The evidence: memory grew during
    the failed run (from ``before`` bytes) and ended with less room left than a
    quarter of the limit (or than one page); or the request (``request``: the
    lengths of the operation and the payload, which the guest must copy into its
    memory) is larger than the limit, or is large (a quarter of the limit, at least
    a page) and larger than the room the limit leaves above ``before``. A guest that
    reported the failure keeps exit 1, with the limit added to its message.
    """
    if limit is None or memory is None or before is None:
        return error
    if isinstance(error, LimitExceeded) or not isinstance(error, GuestError | GuestTrap):
        return error
    try:
        size = memory.size()
    except Exception:  # a memory of a torn-down instance: no evidence either way
        return error
    needed = sum(request)
    if needed > limit or (needed > limit - before and needed >= max(PAGE, limit // 4)):
        note = _request_note(request, limit, before)
    elif size <= before or limit - size >= max(PAGE, limit // 4):
        return error
    else:
        note = (
            f"guest memory grew to {format_size(size)} of the max-memory limit of "
            f"{format_size(limit)}; memory.grow beyond the limit fails (returns -1)"
        )
    if isinstance(error, GuestError):
        return GuestError(f"{error.message} ({note})", error.raw)
    return LimitExceeded(
        "max-memory", format_size(limit), f"max-memory: {note}; then {error.message}",
        guest_error=error.guest_error, frames=error.frames, phase=error.phase,
    )


def _request_note(request: tuple[int, int], limit: int, before: int) -> str:
    """Why a request (operation and payload lengths) cannot fit under the max-memory ``limit``."""
    operation, payload = request
    what = f"the payload ({format_size(payload)})"
    if operation > PAGE:  # a name that long counts too: say so
        what = f"the operation name ({format_size(operation)}) and {what[4:]}"
    if sum(request) > limit:
        return f"{what} is larger than the max-memory limit of {format_size(limit)}"
    return (
        f"{what} does not fit in the {format_size(max(0, limit - before))} that the "
        f"max-memory limit of {format_size(limit)} leaves above the guest's "
        f"{format_size(before)} of memory"
    )


def frames_text(frames: tuple[TrapFrame, ...], shown: int = 4) -> str:
    """Innermost frames first; a run of one frame (deep recursion) shown once with a count."""
    parts = []
    for frame, run in itertools.groupby(frames):
        count = sum(1 for _ in run)
        parts.append(f"{frame} (x{count})" if count > 1 else str(frame))
    more = len(parts) - shown
    return " <- ".join(parts[:shown]) + (f" <- ... {more} more" if more > 0 else "")
