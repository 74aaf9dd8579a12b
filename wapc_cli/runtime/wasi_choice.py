"""Which WASI host a guest gets: the real one only when it can use it.

A guest that imports no WASI function and is granted no directory gets a
:class:`NoWasiHost`, and :mod:`.wasi` (with its descriptor table, streams and
sandbox, ~2 ms of a one-shot ``wapc call``) is never loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engines.base import FuncSig, HostFn
    from .session import WapcSession
    from .wasi import WasiHost
    from .wasi_options import WasiOptions


class NoWasiHost:
    """The WASI host of a guest that imports no WASI function: nothing to serve,
    hold or flush. (A directory grant still gets the real host, which opens it,
    so that a grant that cannot be opened is reported whatever the guest imports.)"""

    def flush(self) -> None:
        pass

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    def close_with(self, owner: object) -> None:
        pass

    def functions(
        self, wanted: Sequence[tuple[str, str, FuncSig]]
    ) -> dict[tuple[str, str], HostFn]:
        if wanted:  # the caller said there were no WASI imports
            raise ValueError(f"no WASI host for {wanted[0][0]}.{wanted[0][1]}")
        return {}


def wasi_host_for(
    session: WapcSession, options: WasiOptions, *, imports_wasi: bool
) -> WasiHost | NoWasiHost:
    """The WASI host a guest needs: the real one if it imports WASI or is granted a
    directory, else a :class:`NoWasiHost` (and :mod:`.wasi` stays unloaded)."""
    if not imports_wasi and not options.dirs:
        return NoWasiHost()
    from .wasi import WasiHost

    return WasiHost(session, options)
