"""waPC ABI names and signatures: the one place they are spelled out."""

from __future__ import annotations

WAPC_MODULE = "wapc"
GUEST_CALL = "__guest_call"
MEMORY = "memory"

I32 = "i32"

#: The nine host imports of module ``wapc``: name -> (params, results).
#: All are allowed, none required (linkers drop the unused ones).
HOST_IMPORTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "__guest_request": ((I32, I32), ()),
    "__guest_response": ((I32, I32), ()),
    "__guest_error": ((I32, I32), ()),
    "__host_call": ((I32,) * 8, (I32,)),
    "__host_response_len": ((), (I32,)),
    "__host_response": ((I32,), ()),
    "__host_error_len": ((), (I32,)),
    "__host_error": ((I32,), ()),
    "__console_log": ((I32, I32), ()),
}

GUEST_CALL_SIGNATURE: tuple[tuple[str, ...], tuple[str, ...]] = ((I32, I32), (I32,))

#: Init exports, called once after instantiation, in this order when present
#: (after the start section, which the engine runs while instantiating).
#: ``_start`` is command-style (may end with WASI proc_exit(0), not a failure),
#: ``_initialize`` reactor-style (TinyGo), ``wapc_init`` where SDKs register handlers.
INIT_EXPORTS: tuple[str, ...] = ("_start", "_initialize", "wapc_init")

WASI_MODULES: tuple[str, ...] = ("wasi_snapshot_preview1", "wasi_unstable")

#: Imports of module ``env`` that real SDKs emit and that we answer.
ENV_ABORT = ("env", "abort")  # AssemblyScript without --use abort=...
ENV_CONSOLE_LOG = ("env", "__console_log")  # Zig SDK
ENV_IMPORTS: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    ENV_ABORT: ((I32, I32, I32, I32), ()),
    ENV_CONSOLE_LOG: ((I32, I32), ()),
}
