"""Linear memory on wasmtime's C-API path: a memoryview that stays valid (see wasmtime_fast)."""

from __future__ import annotations

import ctypes

import wasmtime
from wasmtime import _ffi as ffi

_P = ctypes.c_void_p
_dll = ffi.dll
# PYFUNCTYPE: short calls that keep the GIL; every argument an address.
_data_size = ctypes.PYFUNCTYPE(ctypes.c_size_t, _P, _P)(("wasmtime_memory_data_size", _dll))
_data_ptr = ctypes.PYFUNCTYPE(_P, _P, _P)(("wasmtime_memory_data", _dll))
# The same two functions by address, for native host functions (engines/base.py NativeHostFn).
_DATA_PTR_ADDRESS = int(ctypes.cast(_dll.wasmtime_memory_data, _P).value or 0)
_DATA_SIZE_ADDRESS = int(ctypes.cast(_dll.wasmtime_memory_data_size, _P).value or 0)


class FastMemory:
    """Linear memory through a cached memoryview (a :class:`~.base.ViewMemory`).

    The engine does not let memory move (``memory_may_move = False``), so the
    base address is fixed for the life of the instance and a view taken earlier
    stays valid, only shorter once the guest grew memory. No access asks
    wasmtime anything unless it falls beyond the cached view; ``view()`` and
    ``size()`` look again. The memory keeps its store alive: the core may still
    hold this memory (or a view of it) after the instance is dropped.
    """

    __slots__ = ("_base", "_ctx", "_extern", "_mem", "_size", "_store", "_view", "native_handle")
    lends_views = True

    def __init__(self, ctx: int, extern: wasmtime.Memory, store: object) -> None:
        self._ctx = ctx
        self._extern = extern  # holds the wasmtime_memory_t that _mem points at
        self._mem = mem = ctypes.addressof(extern._memory)
        self._store = store
        self._size = -1
        self._base = 0
        self._view = memoryview(b"")
        self.native_handle: tuple[int, int, int, int, object] | None = (
            _DATA_PTR_ADDRESS, _DATA_SIZE_ADDRESS, ctx, mem, self
        )
        self.view()

    def view(self) -> memoryview:
        """All of linear memory as it is now (its length is the size)."""
        size = _data_size(self._ctx, self._mem)
        if size != self._size:
            base = int(_data_ptr(self._ctx, self._mem) or 0)
            if self._size > 0 and base != self._base:  # pragma: no cover - config forbids it
                raise RuntimeError("wasmtime moved linear memory despite memory_may_move=False")
            self._size, self._base = size, base
            if size:
                self._view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
            else:
                self._view = memoryview(b"")
        return self._view

    def size(self) -> int:
        return len(self.view())

    def _covering(self, ptr: int, end: int, what: str) -> memoryview:
        view = self._view
        if ptr < 0 or end > len(view):
            view = self.view()
            if ptr < 0 or end > len(view):  # the core checked; a slice would truncate silently
                raise IndexError(f"{what} of {end - ptr} bytes at {ptr:#x} outside memory")
        return view

    def read(self, ptr: int, length: int) -> bytes:
        return self._covering(ptr, ptr + length, "read")[ptr : ptr + length].tobytes()

    def write(self, ptr: int, data: bytes) -> None:
        self._covering(ptr, ptr + len(data), "write")[ptr : ptr + len(data)] = data
