"""Guest linear memory behind the checks every untrusted pointer and length needs.

A pointer or length a guest passes is read as unsigned 32-bit and checked
against the memory's current size before memory is touched. A span outside
memory becomes a :class:`GuestFault`, recorded on the owner (the session) and
raised, which ends the guest call as a trap. Nothing here reads or writes a
byte outside memory, whatever the guest passes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Protocol, cast

from ..engines.base import GuestMemory, ViewMemory, view_memory
from ..wasm.constants import U32_MASK, U64_MASK

_PACK_U32 = struct.Struct("<I").pack
_PACK_U64 = struct.Struct("<Q").pack


class GuestFault(Exception):
    """Raised inside an import: the guest broke the ABI; the call ends as a trap.

    Host functions raise it so the engine unwinds the guest; the owner of the
    memory also keeps it in ``fault`` because not every engine hands the Python
    exception back unchanged.
    """


class FaultOwner(Protocol):
    """Who keeps the fault that ended a guest call (the session)."""

    fault: BaseException | None


class Sliceable(Protocol):
    """What reads slice: a slice of it is a ``bytes`` object (a ctypes char array)."""

    def __getitem__(self, index: slice, /) -> bytes: ...


class CheckedMemory:
    """One instance's linear memory, read and written only through bounds checks.

    ``memory`` is the engine's memory (None until instantiation has handed it
    over). When it lends views (wasmtime's fast path, wasmer's static memories),
    ``view`` is a memoryview of all of it and ``chars`` a byte array over the
    same bytes: accesses then check against ``view_size`` and slice, with no
    call into the engine. ``view_size`` is -1 without a view, so a hot import's
    inline test ``ptr + length <= view_size`` fails and it takes :meth:`read` or
    :meth:`write`. ``unsigned``: the engine hands i32 arguments over as unsigned
    ints, so an inline test need not check their sign.
    """

    def __init__(self, owner: FaultOwner) -> None:
        self.owner = owner
        self.memory: GuestMemory | None = None
        self.view: memoryview | None = None
        self.chars: Sliceable = b""
        self.view_size = -1
        self.unsigned = False
        self._lender: ViewMemory | None = None

    def attach(self, memory: GuestMemory | None, *, unsigned_args: bool = False) -> None:
        """Use ``memory`` from now on (an instance's, once instantiation is done).

        A lent view only goes stale by being too short (the engine never moves
        memory; the guest grew it), so only an access beyond it asks for a new
        one (:meth:`refresh`). ``unsigned_args``: the engine's trampolines
        deliver i32 arguments as unsigned ints (a signed negative one would
        otherwise mean a pointer >= 2**31).
        """
        self.memory = memory
        self._lender = view_memory(memory)
        self.unsigned = unsigned_args
        if self._lender is not None:
            self.refresh()
        else:
            self.view, self.chars, self.view_size = None, b"", -1

    def refresh(self) -> memoryview:
        """Take a new view of memory (and the byte array over it); needs a lending memory."""
        assert self._lender is not None
        view = self.view = self._lender.view()
        self.view_size = len(view)
        # Reads slice a ctypes char array over the same bytes: its slice is the
        # bytes object itself, where a memoryview slice is a view that .tobytes()
        # copies once more. Writes stay on the memoryview: assigning to a
        # char-array slice goes byte by byte.
        import ctypes  # loaded already by an engine that lends views

        chars = (ctypes.c_char * self.view_size).from_buffer(view) if self.view_size else b""
        self.chars = cast(Sliceable, chars)  # typeshed types an Array's slice as a list
        return view

    def fail(self, message: str) -> GuestFault:
        """A fault for the guest's misuse, recorded on the owner (the caller raises it)."""
        fault = GuestFault(message)
        self.owner.fault = fault
        return fault

    def span(self, what: str, ptr: int, length: int) -> tuple[int, int]:
        """``(ptr, length)`` read as unsigned; a fault unless they lie inside memory."""
        ptr &= U32_MASK
        length &= U32_MASK
        memory = self.memory
        if memory is None:
            # Every checked guest exports a memory, but the engine hands it over only
            # once instantiation is done: this is an import called by the start section.
            raise self.fail(
                f"{what}: guest memory is not reachable yet (called from the start "
                "section; this host reads guest memory only after instantiation)"
            )
        size = memory.size()
        if ptr + length > size:
            raise self._outside(what, ptr, length, size)
        return ptr, length

    def read(self, what: str, ptr: int, length: int) -> bytes:
        """The ``length`` bytes at ``ptr``, or a fault (``what`` names the access)."""
        ptr &= U32_MASK
        length &= U32_MASK
        if self.view is not None:
            if ptr + length > self.view_size:
                self._regrown(what, ptr, length)
            return self.chars[ptr : ptr + length]
        memory = self.memory
        if memory is None or ptr + length > memory.size():
            self.span(what, ptr, length)
        assert memory is not None
        return memory.read(ptr, length) if length else b""

    def write(self, what: str, ptr: int, data: bytes) -> None:
        """Store ``data`` at ``ptr``, or fault without writing any of it."""
        ptr &= U32_MASK
        view = self.view
        if view is not None:
            end = ptr + len(data)
            if end > len(view):
                view = self._regrown(what, ptr, len(data))
            view[ptr:end] = data
            return
        memory = self.memory
        if memory is None or ptr + len(data) > memory.size():
            self.span(what, ptr, len(data))
        if data:
            assert memory is not None
            memory.write(ptr, data)

    def store_u32(self, what: str, ptr: int, value: int) -> None:
        """Store ``value`` as a little-endian u32 (its low 32 bits)."""
        self.write(what, ptr, _PACK_U32(value & U32_MASK))

    def store_u64(self, what: str, ptr: int, value: int) -> None:
        """Store ``value`` as a little-endian u64 (its low 64 bits)."""
        self.write(what, ptr, _PACK_U64(value & U64_MASK))

    def read_spans(self, whats: Sequence[str], spans: Sequence[int]) -> list[bytes]:
        """Read several spans, given as ptr, length, ptr, length...: all or none.

        Every span is checked, in order, before any is read; the fault names the
        first outside memory (``whats[i]`` names the i-th span).
        """
        unsigned = [value & U32_MASK for value in spans]
        pairs = list(zip(unsigned[::2], unsigned[1::2], strict=True))
        if self.view is not None:  # the guest may have grown memory since the view was taken
            size = len(self.refresh())
        else:
            size = -1 if self.memory is None else self.memory.size()
        for what, (ptr, length) in zip(whats, pairs, strict=True):
            if ptr + length > size:
                raise self._beyond(what, ptr, length, size)
        if self.view is not None:
            chars = self.chars
            return [chars[ptr : ptr + length] for ptr, length in pairs]
        assert self.memory is not None
        read = self.memory.read
        return [read(ptr, length) if length else b"" for ptr, length in pairs]

    def _regrown(self, what: str, ptr: int, length: int) -> memoryview:
        """A fresh view for an access beyond the cached one; a fault if still beyond."""
        view = self.refresh()
        if ptr + length > len(view):
            raise self._beyond(what, ptr, length, len(view))
        return view

    def _beyond(self, what: str, ptr: int, length: int, size: int) -> GuestFault:
        """The fault for a span beyond ``size``, worded (and raised) by span() when it can."""
        self.span(what, ptr, length)
        # Only a view shorter than memory.size() gets here: still no truncated access.
        return self._outside(what, ptr, length, size)

    def _outside(self, what: str, ptr: int, length: int, size: int) -> GuestFault:
        return self.fail(
            f"{what}: pointer {ptr:#x} + length {length} is outside guest memory "
            f"({size} bytes)"
        )
