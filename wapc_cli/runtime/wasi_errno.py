"""The WASI ``errno`` values (preview1 and snapshot 0 alike), and host errors mapped to them"""

from __future__ import annotations

import errno as host_errno

#: Every WASI errno, in witx order: its value is its index.
ERRNO_NAMES: tuple[str, ...] = (
    "success", "2big", "acces", "addrinuse", "addrnotavail", "afnosupport", "again",
    "already", "badf", "badmsg", "busy", "canceled", "child", "connaborted", "connrefused",
    "connreset", "deadlk", "destaddrreq", "dom", "dquot", "exist", "fault", "fbig",
    "hostunreach", "idrm", "ilseq", "inprogress", "intr", "inval", "io", "isconn", "isdir",
    "loop", "mfile", "mlink", "msgsize", "multihop", "nametoolong", "netdown", "netreset",
    "netunreach", "nfile", "nobufs", "nodev", "noent", "noexec", "nolck", "nolink", "nomem",
    "nomsg", "noprotoopt", "nospc", "nosys", "notconn", "notdir", "notempty",
    "notrecoverable", "notsock", "notsup", "notty", "nxio", "overflow", "ownerdead", "perm",
    "pipe", "proto", "protonosupport", "prototype", "range", "rofs", "spipe", "srch",
    "stale", "timedout", "txtbsy", "xdev", "notcapable",
)

ESUCCESS = 0
E2BIG = 1
EACCES = 2
EAGAIN = 6
EBADF = 8
EEXIST = 20
EFAULT = 21
EFBIG = 22
EINVAL = 28
EIO = 29
EISDIR = 31
ELOOP = 32
EMFILE = 33
ENAMETOOLONG = 37
ENFILE = 41
ENOENT = 44
ENOMEM = 48
ENOSPC = 51
ENOSYS = 52
ENOTDIR = 54
ENOTEMPTY = 55
ENOTSOCK = 57
ENOTSUP = 58
EOVERFLOW = 61
EPERM = 63
EROFS = 69
ESPIPE = 70
EXDEV = 75
ENOTCAPABLE = 76


class Errno(Exception):
    """Raised inside a WASI function to answer the guest with ``code`` (never a trap)."""

    def __init__(self, code: int) -> None:
        super().__init__(ERRNO_NAMES[code] if 0 <= code < len(ERRNO_NAMES) else str(code))
        self.code = code


def _host_to_wasi() -> dict[int, int]:
    table: dict[int, int] = {}
    for code, name in enumerate(ERRNO_NAMES):
        host = getattr(host_errno, "E" + name.upper(), None)
        if isinstance(host, int):
            table.setdefault(host, code)
    table[host_errno.EOPNOTSUPP] = ENOTSUP
    table[host_errno.EWOULDBLOCK] = EAGAIN
    return table


_FROM_HOST = _host_to_wasi()


def from_oserror(exc: OSError) -> int:
    """The WASI errno for a host ``OSError`` (EIO when it has no counterpart)."""
    return _FROM_HOST.get(exc.errno or 0, EIO)
