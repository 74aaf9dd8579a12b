"""WASI preview1 (and snapshot 0) constants and record layouts, as the witx files define them"""

from __future__ import annotations

import struct

from ..wasm.constants import U32_MASK, U64_MASK


class ProcExit(Exception):
    """The guest called ``proc_exit``; unwinds the guest like a trap does."""

    def __init__(self, code: int) -> None:
        super().__init__(f"proc_exit({code})")
        self.code = code


def u32(value: int) -> int:
    return value & U32_MASK


def u64(value: int) -> int:
    return value & U64_MASK


def s64(value: int) -> int:
    """An i64 argument as a signed value, whichever way the engine delivered it."""
    value &= U64_MASK
    return value - (1 << 64) if value >> 63 else value


# filetype
FILETYPE_UNKNOWN, FILETYPE_BLOCK_DEVICE, FILETYPE_CHARACTER_DEVICE = 0, 1, 2
FILETYPE_DIRECTORY, FILETYPE_REGULAR_FILE = 3, 4
FILETYPE_SOCKET_DGRAM, FILETYPE_SOCKET_STREAM, FILETYPE_SYMBOLIC_LINK = 5, 6, 7

# rights (bit numbers from witx)
RIGHT_FD_DATASYNC = 1 << 0
RIGHT_FD_READ = 1 << 1
RIGHT_FD_SEEK = 1 << 2
RIGHT_FD_FDSTAT_SET_FLAGS = 1 << 3
RIGHT_FD_SYNC = 1 << 4
RIGHT_FD_TELL = 1 << 5
RIGHT_FD_WRITE = 1 << 6
RIGHT_FD_ADVISE = 1 << 7
RIGHT_FD_ALLOCATE = 1 << 8
RIGHT_PATH_CREATE_DIRECTORY = 1 << 9
RIGHT_PATH_CREATE_FILE = 1 << 10
RIGHT_PATH_LINK_SOURCE = 1 << 11
RIGHT_PATH_LINK_TARGET = 1 << 12
RIGHT_PATH_OPEN = 1 << 13
RIGHT_FD_READDIR = 1 << 14
RIGHT_PATH_READLINK = 1 << 15
RIGHT_PATH_RENAME_SOURCE = 1 << 16
RIGHT_PATH_RENAME_TARGET = 1 << 17
RIGHT_PATH_FILESTAT_GET = 1 << 18
RIGHT_PATH_FILESTAT_SET_SIZE = 1 << 19
RIGHT_PATH_FILESTAT_SET_TIMES = 1 << 20
RIGHT_FD_FILESTAT_GET = 1 << 21
RIGHT_FD_FILESTAT_SET_SIZE = 1 << 22
RIGHT_FD_FILESTAT_SET_TIMES = 1 << 23
RIGHT_PATH_SYMLINK = 1 << 24
RIGHT_PATH_REMOVE_DIRECTORY = 1 << 25
RIGHT_PATH_UNLINK_FILE = 1 << 26
RIGHT_POLL_FD_READWRITE = 1 << 27
RIGHT_SOCK_SHUTDOWN = 1 << 28
RIGHT_SOCK_ACCEPT = 1 << 29

#: What opening a file for reading / for writing adds (wasi-libc's and Rust std's split).
READ_RIGHTS = RIGHT_FD_READ | RIGHT_FD_READDIR
WRITE_RIGHTS = RIGHT_FD_DATASYNC | RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE
FILE_RIGHTS = (
    READ_RIGHTS | WRITE_RIGHTS | RIGHT_FD_SEEK | RIGHT_FD_FDSTAT_SET_FLAGS | RIGHT_FD_SYNC
    | RIGHT_FD_TELL | RIGHT_FD_ADVISE | RIGHT_FD_FILESTAT_GET | RIGHT_FD_FILESTAT_SET_TIMES
    | RIGHT_POLL_FD_READWRITE
) & ~RIGHT_FD_READDIR
#: The rights of a directory that change what it holds (absent in a read-only grant).
DIR_MUTATING_RIGHTS = (
    RIGHT_PATH_CREATE_DIRECTORY | RIGHT_PATH_CREATE_FILE | RIGHT_PATH_LINK_SOURCE
    | RIGHT_PATH_LINK_TARGET | RIGHT_PATH_RENAME_SOURCE | RIGHT_PATH_RENAME_TARGET
    | RIGHT_PATH_FILESTAT_SET_SIZE | RIGHT_PATH_FILESTAT_SET_TIMES
    | RIGHT_FD_FILESTAT_SET_TIMES | RIGHT_PATH_SYMLINK | RIGHT_PATH_REMOVE_DIRECTORY
    | RIGHT_PATH_UNLINK_FILE
)
DIR_RIGHTS = (
    DIR_MUTATING_RIGHTS | RIGHT_FD_DATASYNC | RIGHT_FD_FDSTAT_SET_FLAGS | RIGHT_FD_SYNC
    | RIGHT_PATH_OPEN | RIGHT_FD_READDIR | RIGHT_PATH_READLINK | RIGHT_PATH_FILESTAT_GET
    | RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE
)
STDIN_RIGHTS = RIGHT_FD_READ | RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE
STDOUT_RIGHTS = RIGHT_FD_WRITE | RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE
ALL_RIGHTS = (1 << 30) - 1

LOOKUP_SYMLINK_FOLLOW = 1
OFLAGS_CREAT, OFLAGS_DIRECTORY, OFLAGS_EXCL, OFLAGS_TRUNC = 1, 2, 4, 8
FDFLAGS_APPEND, FDFLAGS_DSYNC, FDFLAGS_NONBLOCK, FDFLAGS_RSYNC, FDFLAGS_SYNC = 1, 2, 4, 8, 16
FDFLAGS_ALL = 31
FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW, FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW = 1, 2, 4, 8

#: whence: preview1 is set/cur/end = 0/1/2; snapshot 0 (``wasi_unstable``) is cur/end/set.
WHENCE_SET, WHENCE_CUR, WHENCE_END = 0, 1, 2
UNSTABLE_WHENCE = {0: WHENCE_CUR, 1: WHENCE_END, 2: WHENCE_SET}

ADVICE_MAX = 5  # normal, sequential, random, willneed, dontneed, noreuse
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME, CLOCK_THREAD_CPUTIME = 0, 1, 2, 3
EVENTTYPE_CLOCK, EVENTTYPE_FD_READ, EVENTTYPE_FD_WRITE = 0, 1, 2
SUBCLOCK_ABSTIME = 1
PREOPENTYPE_DIR = 0

# Records (little-endian, witx alignment).
FDSTAT = struct.Struct("<BxHxxxxQQ")  # filetype, fdflags, rights_base, rights_inheriting
FILESTAT = struct.Struct("<QQB7xQQQQQ")  # dev, ino, filetype, nlink, size, atim, mtim, ctim
#: snapshot 0's filestat: nlink is a u32 (56 bytes, not 64).
UNSTABLE_FILESTAT = struct.Struct("<QQB3xIQQQQ")
DIRENT = struct.Struct("<QQIB3x")  # d_next, d_ino, d_namlen, d_type
PRESTAT = struct.Struct("<B3xI")  # tag, pr_name_len
IOVEC = struct.Struct("<II")
EVENT = struct.Struct("<QHBxxxxxQH6x")  # userdata, error, type, nbytes, flags (32 bytes)
#: subscription: userdata, tag, then the union (preview1 48 bytes, snapshot 0 56 bytes).
SUBSCRIPTION_SIZE = {"wasi_snapshot_preview1": 48, "wasi_unstable": 56}
