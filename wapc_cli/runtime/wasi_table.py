"""The WASI import table: each (module, name) a guest may import, its type and implementation

Written out, one line per function: no reflection over a class, no lookup by
import name. ``wasi_snapshot_preview1`` has all 46 preview1 functions;
``wasi_unstable`` (snapshot 0) has the same, with its own ``fd_seek`` (other
whence numbers), ``fd_filestat_get`` / ``path_filestat_get`` (a 56-byte
filestat, nlink u32) and ``poll_oneoff`` (an extra identifier in a clock
subscription), and no ``sock_accept``, which snapshot 0 did not have.
:func:`bind` turns an entry into the host function an engine calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from ..engines.base import FuncSig, HostFn
from . import wasi_dir as dirs
from . import wasi_fs as fs
from . import wasi_path as path
from . import wasi_poll as poll
from . import wasi_proc as proc
from .memory import CheckedMemory
from .wasi_errno import ENOSYS, Errno, from_oserror
from .wasi_state import WasiState

PREVIEW1 = "wasi_snapshot_preview1"
UNSTABLE = "wasi_unstable"


class WasiImport(NamedTuple):
    """One WASI function: its WebAssembly type and what answers it."""

    sig: FuncSig
    implementation: Callable[..., int | None]


def _sig(params: str, returns_errno: bool = True) -> FuncSig:
    """``params``: one letter per parameter, ``i`` an i32, ``I`` an i64."""
    types = tuple("i64" if p == "I" else "i32" for p in params)
    return FuncSig(types, ("i32",) if returns_errno else ())


_COMMON: dict[str, WasiImport] = {
    "args_get": WasiImport(_sig("ii"), proc.args_get),
    "args_sizes_get": WasiImport(_sig("ii"), proc.args_sizes_get),
    "environ_get": WasiImport(_sig("ii"), proc.environ_get),
    "environ_sizes_get": WasiImport(_sig("ii"), proc.environ_sizes_get),
    "clock_res_get": WasiImport(_sig("ii"), poll.clock_res_get),
    "clock_time_get": WasiImport(_sig("iIi"), poll.clock_time_get),
    "fd_advise": WasiImport(_sig("iIIi"), fs.fd_advise),
    "fd_allocate": WasiImport(_sig("iII"), fs.fd_allocate),
    "fd_close": WasiImport(_sig("i"), fs.fd_close),
    "fd_datasync": WasiImport(_sig("i"), fs.fd_datasync),
    "fd_fdstat_get": WasiImport(_sig("ii"), fs.fd_fdstat_get),
    "fd_fdstat_set_flags": WasiImport(_sig("ii"), fs.fd_fdstat_set_flags),
    "fd_fdstat_set_rights": WasiImport(_sig("iII"), fs.fd_fdstat_set_rights),
    "fd_filestat_get": WasiImport(_sig("ii"), fs.fd_filestat_get),
    "fd_filestat_set_size": WasiImport(_sig("iI"), fs.fd_filestat_set_size),
    "fd_filestat_set_times": WasiImport(_sig("iIIi"), fs.fd_filestat_set_times),
    "fd_pread": WasiImport(_sig("iiiIi"), fs.fd_pread),
    "fd_prestat_get": WasiImport(_sig("ii"), dirs.fd_prestat_get),
    "fd_prestat_dir_name": WasiImport(_sig("iii"), dirs.fd_prestat_dir_name),
    "fd_pwrite": WasiImport(_sig("iiiIi"), fs.fd_pwrite),
    "fd_read": WasiImport(_sig("iiii"), fs.fd_read),
    "fd_readdir": WasiImport(_sig("iiiIi"), dirs.fd_readdir),
    "fd_renumber": WasiImport(_sig("ii"), fs.fd_renumber),
    "fd_seek": WasiImport(_sig("iIii"), fs.fd_seek),
    "fd_sync": WasiImport(_sig("i"), fs.fd_sync),
    "fd_tell": WasiImport(_sig("ii"), fs.fd_tell),
    "fd_write": WasiImport(_sig("iiii"), fs.fd_write),
    "path_create_directory": WasiImport(_sig("iii"), path.path_create_directory),
    "path_filestat_get": WasiImport(_sig("iiiii"), path.path_filestat_get),
    "path_filestat_set_times": WasiImport(_sig("iiiiIIi"), path.path_filestat_set_times),
    "path_link": WasiImport(_sig("iiiiiii"), path.path_link),
    "path_open": WasiImport(_sig("iiiiiIIii"), path.path_open),
    "path_readlink": WasiImport(_sig("iiiiii"), path.path_readlink),
    "path_remove_directory": WasiImport(_sig("iii"), path.path_remove_directory),
    "path_rename": WasiImport(_sig("iiiiii"), path.path_rename),
    "path_symlink": WasiImport(_sig("iiiii"), path.path_symlink),
    "path_unlink_file": WasiImport(_sig("iii"), path.path_unlink_file),
    "poll_oneoff": WasiImport(_sig("iiii"), poll.poll_oneoff),
    "proc_exit": WasiImport(_sig("i", returns_errno=False), proc.proc_exit),
    "proc_raise": WasiImport(_sig("i"), proc.proc_raise),
    "sched_yield": WasiImport(_sig(""), poll.sched_yield),
    "random_get": WasiImport(_sig("ii"), proc.random_get),
    "sock_recv": WasiImport(_sig("iiiiii"), proc.sock_recv),
    "sock_send": WasiImport(_sig("iiiii"), proc.sock_send),
    "sock_shutdown": WasiImport(_sig("ii"), proc.sock_shutdown),
}

#: Every function a guest can import, by (module, name).
WASI_TABLE: Mapping[tuple[str, str], WasiImport] = {
    **{(PREVIEW1, name): entry for name, entry in _COMMON.items()},
    (PREVIEW1, "sock_accept"): WasiImport(_sig("iii"), proc.sock_accept),
    **{(UNSTABLE, name): entry for name, entry in _COMMON.items()},
    (UNSTABLE, "fd_seek"): WasiImport(_sig("iIii"), fs.unstable_fd_seek),
    (UNSTABLE, "fd_filestat_get"): WasiImport(_sig("ii"), fs.unstable_fd_filestat_get),
    (UNSTABLE, "path_filestat_get"): WasiImport(_sig("iiiii"), path.unstable_path_filestat_get),
    (UNSTABLE, "poll_oneoff"): WasiImport(_sig("iiii"), poll.unstable_poll_oneoff),
}

#: The names of the preview1 functions implemented (every one of the 46).
IMPLEMENTED_WASI_FUNCTIONS = frozenset(name for module, name in WASI_TABLE if module == PREVIEW1)


def bind(entry: WasiImport, state: WasiState) -> HostFn:
    """The host function for ``entry``: an ``Errno`` or host ``OSError`` becomes the answer.

    A fault (a bad pointer), ``proc_exit`` and the time limit still unwind the guest.
    """
    implementation = entry.implementation

    def call(*args: int) -> int | None:
        try:
            return implementation(state, *args)
        except Errno as exc:
            return exc.code
        except OSError as exc:
            return from_oserror(exc)

    return call


def enosys(sig: FuncSig) -> HostFn:
    """A function WASI does not have (or we do not): it answers ENOSYS."""
    if sig.results:
        return lambda *args: ENOSYS
    return lambda *args: None


def mistyped(memory: CheckedMemory, module: str, name: str, declared: FuncSig,
             expected: FuncSig) -> HostFn:
    """A known WASI name imported with the wrong type: calling it traps, saying so."""
    message = f"import '{module}.{name}' has type {declared}; WASI defines {expected}"

    def call(*args: int) -> int | None:
        raise memory.fail(message)

    return call
