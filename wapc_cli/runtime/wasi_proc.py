"""The WASI process functions: arguments, environment, randomness, exit, and sockets

There are no sockets to give a guest (no grant makes one): ``sock_*`` on a
descriptor that exists answers ``ENOTSOCK``, on one that does not ``EBADF``.
"""

from __future__ import annotations

import os

from .wasi_errno import EINVAL, ENOTSOCK, ENOTSUP, ESUCCESS, Errno
from .wasi_state import WasiState
from .wasi_types import ProcExit, u32

#: The most random bytes produced per call (a larger request is filled in pieces).
_RANDOM_CHUNK = 1 << 20


def _sizes(state: WasiState, items: list[str], count_ptr: int, size_ptr: int,
           what: str) -> int:
    encoded = [item.encode("utf-8") + b"\0" for item in items]
    state.memory.store_u32(what, count_ptr, len(encoded))
    state.memory.store_u32(what, size_ptr, sum(map(len, encoded)))
    return ESUCCESS


def _strings(state: WasiState, items: list[str], ptrs: int, buf: int, what: str) -> int:
    encoded = [item.encode("utf-8") + b"\0" for item in items]
    state.memory.span(what, ptrs, 4 * len(encoded))
    state.memory.span(what, buf, sum(map(len, encoded)))
    offset = u32(buf)
    pointers = bytearray()
    for data in encoded:
        pointers += offset.to_bytes(4, "little")
        state.memory.write(what, offset, data)
        offset += len(data)
    state.memory.write(what, ptrs, bytes(pointers))
    return ESUCCESS


def args_sizes_get(state: WasiState, count_ptr: int, size_ptr: int) -> int:
    return _sizes(state, state.argv, count_ptr, size_ptr, "args_sizes_get")


def args_get(state: WasiState, ptrs: int, buf: int) -> int:
    return _strings(state, state.argv, ptrs, buf, "args_get")


def environ_sizes_get(state: WasiState, count_ptr: int, size_ptr: int) -> int:
    return _sizes(state, state.environ, count_ptr, size_ptr, "environ_sizes_get")


def environ_get(state: WasiState, ptrs: int, buf: int) -> int:
    return _strings(state, state.environ, ptrs, buf, "environ_get")


def random_get(state: WasiState, buf: int, length: int) -> int:
    ptr, length = state.memory.span("random_get", buf, length)
    done = 0
    while done < length:
        chunk = min(_RANDOM_CHUNK, length - done)
        state.memory.write("random_get", ptr + done, os.urandom(chunk))
        done += chunk
    return ESUCCESS


def proc_exit(state: WasiState, code: int) -> None:
    state.output.flush()
    exit_ = ProcExit(u32(code))
    state.exchange.fault = exit_  # not every engine hands the exception back unchanged
    raise exit_


def proc_raise(state: WasiState, signal: int) -> int:
    """No signals are delivered to a guest."""
    return ENOTSUP


def _socket(state: WasiState, fd: int) -> int:
    state.fds.get(fd)  # EBADF when there is no such descriptor
    raise Errno(ENOTSOCK)


def sock_accept(state: WasiState, fd: int, flags: int, result_ptr: int) -> int:
    return _socket(state, fd)


def sock_recv(state: WasiState, fd: int, ri_data: int, ri_data_len: int, ri_flags: int,
              ro_datalen_ptr: int, ro_flags_ptr: int) -> int:
    return _socket(state, fd)


def sock_send(state: WasiState, fd: int, si_data: int, si_data_len: int, si_flags: int,
              so_datalen_ptr: int) -> int:
    return _socket(state, fd)


def sock_shutdown(state: WasiState, fd: int, how: int) -> int:
    if u32(how) & ~3 or not u32(how):
        state.fds.get(fd)
        raise Errno(EINVAL)
    return _socket(state, fd)
