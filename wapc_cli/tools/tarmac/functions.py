"""``tarmac:function:NAME``: another module's ``handler`` run as a nested exchange.

Tarmac registers a route of type ``function`` as the callback
``tarmac:function:NAME``, which runs ``runWASM(NAME, "handler", payload)``: the
callee's ``handler`` operation with the caller's payload, its response the
host call's answer; a callee that fails fails the host call with
``failed to execute wasm module - <why>`` and no body. A name no route
registered answers ``callback not found``.

Here the callee runs as a nested exchange of this run (:mod:`..nested`, which
a stub rule's ``reply: {guest: ...}`` uses too): the same engine, limits,
host-call handler (stub rules, the preset with its kvstore and SQL backends,
``--record``), log and trace sinks. Each call gets a fresh instance (Tarmac
reuses pooled instances, so a callee's globals may outlive a call there: do
not rely on either). Calls nest at most :data:`MAX_DEPTH` deep: a deeper one
is a failed host call.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import WapcError
from ...runtime.hostcalls import HostCallError
from ..nested import MAX_DEPTH, NestedRunner

__all__ = ["HANDLER", "MAX_DEPTH", "NOT_FOUND", "FunctionRunner"]

#: The operation Tarmac calls on a function (``runWASM(name, "handler", ...)``).
HANDLER = "handler"
#: Tarmac's answer to a callback no route registered (wapc-toolkit's ErrNotFound).
NOT_FOUND = "callback not found"


def _tarmac_failure(error: WapcError) -> str:
    return f"failed to execute wasm module - {error}"


class FunctionRunner(NestedRunner):
    """Runs ``function:NAME`` callees; one per run, shared by every nesting level."""

    def __init__(self, functions: dict[str, Path]) -> None:
        super().__init__()
        self.functions = dict(functions)

    def __call__(self, name: str, payload: bytes) -> bytes:
        """The callee's response; a failure raises HostCallError (a failed host call)."""
        path = self.functions.get(name)
        if path is None:
            raise HostCallError(NOT_FOUND)
        if self.depth >= MAX_DEPTH:
            raise HostCallError(f"function calls nested deeper than {MAX_DEPTH} "
                                f"(function:{name} not run)")
        return self.run(name, path, HANDLER, payload, _tarmac_failure)
