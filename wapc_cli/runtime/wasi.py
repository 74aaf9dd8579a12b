"""A complete WASI preview1 host (and ``wasi_unstable``), written in Python against guest memory

Why our own rather than the engines' built-in WASI: one implementation gives
identical behaviour on both engines (wasmer 1.1's WASI is old and differs from
wasmtime's); ``wasi_unstable`` works everywhere; guest stdout/stderr go to our
log sink with their prefixes and into the trace (a command's go to byte sinks),
never to the response; ``poll_oneoff`` sleeps end with the exchange's time
budget and with Ctrl-C (wasmtime's own WASI sleeps in native code that no
epoch deadline interrupts); and the sandbox is ours: nothing of the host
(files, environment, arguments) is visible unless granted, paths are resolved
descriptor-relative inside each grant (:mod:`.wasi_sandbox`), and a read-only
grant answers every change with ``EROFS``.

The pieces: :mod:`.wasi_table` (every importable function, its type and
implementation), :mod:`.wasi_fs` / :mod:`.wasi_path` / :mod:`.wasi_poll` /
:mod:`.wasi_proc` (the functions), :mod:`.wasi_fd` (the descriptor table),
:mod:`.wasi_streams` (stdin, stdout, stderr). A name WASI does not define
answers ``ENOSYS``; a WASI name imported with the wrong type traps when called.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..engines.base import FuncSig, HostFn
from ..errors import InputFileError
from .session import WapcSession
from .wasi_fd import DescriptorTable
from .wasi_options import DirGrant, WasiOptions
from .wasi_sandbox import Grant
from .wasi_state import WasiState
from .wasi_streams import LogOutput, Output, RawOutput, Stdin, StdinSource
from .wasi_types import ProcExit

if TYPE_CHECKING:
    from .wasi_table import IMPLEMENTED_WASI_FUNCTIONS, WASI_TABLE

__all__ = [
    "IMPLEMENTED_WASI_FUNCTIONS", "WASI_TABLE", "DirGrant", "ProcExit", "RawOutput",
    "StdinSource", "WasiHost", "WasiOptions",
]


def __getattr__(name: str) -> Any:
    """The import table, loaded on first use: a guest without WASI imports never needs it
    (nor the function modules behind it, ~2 ms of a one-shot ``wapc call``)."""
    if name in ("WASI_TABLE", "IMPLEMENTED_WASI_FUNCTIONS"):
        from . import wasi_table

        return getattr(wasi_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_grants(dirs: Sequence[DirGrant | tuple[str, str]]) -> list[Grant]:
    """Open each granted directory (one host descriptor each), or say which cannot be."""
    grants: list[Grant] = []
    try:
        for grant in dirs:
            host, guest = grant[0], grant[1]
            writable = bool(grant[2]) if len(grant) > 2 else False  # type: ignore[misc]
            try:
                grants.append(Grant(host, guest, writable))
            except OSError as exc:
                raise InputFileError(
                    f"directory grant '{host}': cannot open it ({exc.strerror})"
                ) from None
    except BaseException:
        for opened in grants:
            opened.close()
        raise
    return grants


class WasiHost(WasiState):
    """The WASI functions of one guest, over its session's checked memory.

    ``output``: where stdout/stderr go (default: the session's log, line by
    line). ``command``: argv is always the program name then the arguments
    (a waPC guest without granted arguments sees an empty argv, not even a
    name). Holds host descriptors (each grant's root, what the guest opens):
    :meth:`close` closes them all (and so does garbage collection).
    """

    def __init__(
        self, session: WapcSession, options: WasiOptions, *,
        output: Output | None = None, stdin: StdinSource = b"", command: bool = False,
    ) -> None:
        argv = [options.program_name, *options.args] if options.args or command else []
        fds = DescriptorTable(open_grants(options.dirs))
        # Only a grant can hold host descriptors (every path a guest opens starts at
        # one), so only then is there anything for garbage collection to close.
        self._closer = weakref.finalize(self, fds.close) if options.dirs else None
        super().__init__(
            session.checked, session, fds, output or LogOutput(session.log), Stdin(stdin),
            argv, [f"{key}={value}" for key, value in options.env.items()],
        )
        self.session = session

    def flush(self) -> None:
        """Emit any partial output line (at the end of an exchange or init step)."""
        self.output.flush()

    def reset(self) -> None:
        """Forget what a previous instance opened (called when one is built)."""
        self.fds.reset()

    def close(self) -> None:
        """Close every host descriptor this host holds; it is unusable afterwards.

        Output not yet flushed stays unflushed (:meth:`flush` first when it matters).
        """
        if self._closer is not None:
            self._closer()

    def close_with(self, owner: object) -> None:
        """Also close this host's descriptors when ``owner`` is collected (a guest: wasmer
        keeps the host itself alive through its host functions). Nothing without a grant."""
        if self._closer is not None:
            weakref.finalize(owner, self.close)

    def functions(
        self, wanted: Sequence[tuple[str, str, FuncSig]]
    ) -> dict[tuple[str, str], HostFn]:
        """Host functions for the WASI imports a module declares (see the module docstring)."""
        provided: dict[tuple[str, str], HostFn] = {}
        if not wanted:
            return provided
        from .wasi_table import WASI_TABLE, bind, enosys, mistyped

        for module, name, sig in wanted:
            entry = WASI_TABLE.get((module, name))
            if entry is None:
                provided[(module, name)] = enosys(sig)
            elif entry.sig != sig:
                provided[(module, name)] = mistyped(self.memory, module, name, sig, entry.sig)
            else:
                provided[(module, name)] = bind(entry, self)
        return provided
