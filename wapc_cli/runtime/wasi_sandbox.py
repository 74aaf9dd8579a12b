"""Guest paths resolved inside a grant, descriptor-relative: no path can escape it

Each grant keeps an open host directory descriptor (its root). A guest path is
resolved one component at a time, every step relative to the descriptor of
the directory before it (``os.open(name, O_DIRECTORY | O_NOFOLLOW, dir_fd=...)``),
never by a host path string: a directory renamed or a symlink swapped in
between two steps cannot redirect a later one outside, because each step only
ever looks inside a directory already held open.

Symbolic links are expanded here, not by the host: a link is read
(``os.readlink(name, dir_fd=...)``) and its target spliced into the path, at
most :data:`MAX_SYMLINKS` times (then ``ELOOP``). ``..`` never climbs above the
directory the path is relative to (its capability); an absolute path, or an
absolute link target outside the grant's host directory, is refused with
``EPERM`` (wasmtime's answer). An absolute link target inside the grant's host
directory (links made on the host) is followed from the grant's root.

The last component is never opened here: :func:`resolve` returns its parent's
descriptor and its name, and the caller acts on it relative to that
descriptor, with ``O_NOFOLLOW`` / ``follow_symlinks=False`` (when the guest
asked to follow it, the links there were expanded first).
"""

from __future__ import annotations

import errno as host_errno
import os
from collections import deque
from collections.abc import Callable
from types import TracebackType

from .wasi_errno import ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR, EPERM, Errno

#: How many symbolic links one resolution may expand (Linux's bound too).
MAX_SYMLINKS = 40
#: The longest path a guest may pass, in bytes.
MAX_PATH = 4096
#: Flags for every directory opened on the way: never follow, never block, never inherit.
DIR_OPEN_FLAGS = (
    os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
)

#: Called before each resolution step and once the last name was checked (tests use
#: it to swap a link in mid-call).
step_hook: Callable[[], None] | None = None


class Grant:
    """One granted host directory: its root descriptor, the name the guest sees, writability."""

    __slots__ = ("fd", "guest", "host", "writable")

    def __init__(self, host: str, guest: str, writable: bool) -> None:
        self.host = os.path.realpath(host)
        self.guest = guest
        self.writable = writable
        self.fd = os.open(self.host, DIR_OPEN_FLAGS)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


class Resolved:
    """Where a path ended: ``dir_fd`` holds ``name``. A context manager: closes what it opened.

    ``must_be_dir``: the path ended in ``/`` (or ``/.``), so it names a directory.
    """

    __slots__ = ("_owned", "dir_fd", "must_be_dir", "name")

    def __init__(self, dir_fd: int, name: str, must_be_dir: bool, owned: list[int]) -> None:
        self.dir_fd = dir_fd
        self.name = name
        self.must_be_dir = must_be_dir
        self._owned = owned

    def close(self) -> None:
        owned, self._owned = self._owned, []
        for fd in owned:
            os.close(fd)

    def __enter__(self) -> Resolved:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def split_path(path: str) -> deque[str]:
    return deque(path.split("/"))


def resolve(grant: Grant, base_fd: int, path: str, follow_final: bool) -> Resolved:
    """Resolve ``path`` relative to the directory ``base_fd`` (inside ``grant``).

    Raises :class:`Errno` (ENOENT, ENOTDIR, ELOOP, EPERM, ...) when it cannot.
    """
    if not path:
        raise Errno(ENOENT)
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise Errno(ENAMETOOLONG)
    if path.startswith("/"):
        raise Errno(EPERM)
    stack: list[int] = [base_fd]  # stack[0] belongs to the caller; the rest are ours
    parts = split_path(path)
    links = 0
    try:
        while True:
            name, must_be_dir = _next_name(parts, stack)
            if name is None:
                return Resolved(stack[-1], ".", True, stack[1:])
            final = not parts
            if final and not follow_final and not must_be_dir:
                return Resolved(stack[-1], name, False, stack[1:])
            target = _step(stack, name, final)
            if target is None:
                if final:
                    if step_hook is not None:
                        step_hook()  # checked: not a link (the caller opens it O_NOFOLLOW)
                    return Resolved(stack[-1], name, must_be_dir, stack[1:])
                continue
            links += 1
            if links > MAX_SYMLINKS:
                raise Errno(ELOOP)
            if not target:
                raise Errno(ENOENT)
            if target.startswith("/"):
                inside = _inside_grant(grant, target)
                if inside is None:
                    raise Errno(EPERM)
                while len(stack) > 1:
                    os.close(stack.pop())
                stack[0] = grant.fd
                target = inside
            tail = list(parts)
            parts.clear()
            parts.extend(split_path(target))
            if must_be_dir:
                parts.append("")
            parts.extend(tail)
    except BaseException:
        for fd in stack[1:]:
            os.close(fd)
        raise


def _next_name(parts: deque[str], stack: list[int]) -> tuple[str | None, bool]:
    """The next real component (``..`` handled on ``stack``), and whether a ``/`` follows it.

    None: the path ran out on a ``.``, ``..`` or ``/`` (it names ``stack[-1]`` itself).
    Trailing ``/`` and ``/.`` after the name are consumed: they only say "a directory".
    """
    while parts:
        part = parts.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if len(stack) == 1:
                raise Errno(EPERM)  # above the directory the path is relative to
            os.close(stack.pop())
            continue
        must_be_dir = False
        while parts and parts[0] in ("", "."):
            parts.popleft()
            must_be_dir = True
        return part, must_be_dir
    return None, True


def _step(stack: list[int], name: str, final: bool) -> str | None:
    """Enter directory ``name`` (pushed on ``stack``), or return its link target.

    For the final component nothing is entered: only a link is read (None: not a link).
    """
    if step_hook is not None:
        step_hook()
    parent = stack[-1]
    if final:
        try:
            return os.readlink(name, dir_fd=parent)
        except OSError as exc:
            # EINVAL: not a link; ENOENT: the caller answers for a missing name
            if exc.errno in (host_errno.EINVAL, host_errno.ENOENT):
                return None
            raise
    try:
        stack.append(os.open(name, DIR_OPEN_FLAGS, dir_fd=parent))
        return None
    except OSError as exc:
        if exc.errno not in (host_errno.ELOOP, host_errno.ENOTDIR):
            raise
        try:
            return os.readlink(name, dir_fd=parent)
        except OSError:
            raise Errno(ENOTDIR) from None


def _inside_grant(grant: Grant, target: str) -> str | None:
    """An absolute link target as a path relative to the grant's root, or None if outside."""
    root = grant.host.rstrip("/")
    if target == root:
        return "."
    if target.startswith(root + "/"):
        return target[len(root) + 1:] or "."
    return None

