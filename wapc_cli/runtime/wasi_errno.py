"""The WASI preview1 ``errno`` values this host answers with (``wasi_snapshot_preview1``)."""

from __future__ import annotations

ESUCCESS = 0
EACCES = 2
EBADF = 8
EINVAL = 28
EIO = 29
EISDIR = 31
EMFILE = 33
ENAMETOOLONG = 37
ENOENT = 44
ENOSYS = 52
ENOTDIR = 54
EROFS = 69
ESPIPE = 70
ENOTCAPABLE = 76
