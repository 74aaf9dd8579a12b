"""The WASI ``path_*`` functions, each resolved inside its grant by :mod:`.wasi_sandbox`

A read-only grant answers every change (create, write, truncate, rename,
link, symlink, delete, set times) with ``EROFS``, before looking at the path.
"""

from __future__ import annotations

import os
import stat

from .wasi_errno import (
    EEXIST,
    EINVAL,
    EISDIR,
    ENOENT,
    ENOTCAPABLE,
    ENOTDIR,
    EPERM,
    EROFS,
    ESUCCESS,
    Errno,
)
from .wasi_fd import Descriptor, dir_rights, filetype_of
from .wasi_fs import times
from .wasi_sandbox import Resolved, resolve
from .wasi_state import WasiState
from .wasi_types import (
    FDFLAGS_APPEND,
    FDFLAGS_DSYNC,
    FDFLAGS_NONBLOCK,
    FDFLAGS_RSYNC,
    FDFLAGS_SYNC,
    FILE_RIGHTS,
    FILETYPE_DIRECTORY,
    LOOKUP_SYMLINK_FOLLOW,
    OFLAGS_CREAT,
    OFLAGS_DIRECTORY,
    OFLAGS_EXCL,
    OFLAGS_TRUNC,
    READ_RIGHTS,
    RIGHT_FD_WRITE,
    RIGHT_PATH_CREATE_DIRECTORY,
    RIGHT_PATH_CREATE_FILE,
    RIGHT_PATH_FILESTAT_GET,
    RIGHT_PATH_FILESTAT_SET_SIZE,
    RIGHT_PATH_FILESTAT_SET_TIMES,
    RIGHT_PATH_LINK_SOURCE,
    RIGHT_PATH_LINK_TARGET,
    RIGHT_PATH_OPEN,
    RIGHT_PATH_READLINK,
    RIGHT_PATH_REMOVE_DIRECTORY,
    RIGHT_PATH_RENAME_SOURCE,
    RIGHT_PATH_RENAME_TARGET,
    RIGHT_PATH_SYMLINK,
    RIGHT_PATH_UNLINK_FILE,
    WRITE_RIGHTS,
    u64,
)

_OPEN_ALWAYS = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
_SYNC_FLAGS = {FDFLAGS_DSYNC: os.O_DSYNC, FDFLAGS_RSYNC: os.O_RSYNC, FDFLAGS_SYNC: os.O_SYNC}


def _at(state: WasiState, fd: int, right: int, what: str, ptr: int, length: int,
        follow: bool, *, mutates: bool = False) -> Resolved:
    """Resolve the guest path at ``ptr`` relative to directory ``fd``, which must hold ``right``."""
    directory = state.fds.directory(fd)
    if mutates and directory.grant is not None and not directory.grant.writable:
        raise Errno(EROFS)
    if not directory.rights & right:
        raise Errno(ENOTCAPABLE)
    path = state.path(what, ptr, length)
    assert directory.grant is not None  # directory() checked
    return resolve(directory.grant, directory.host_fd, path, follow)


def _lstat(where: Resolved) -> os.stat_result:
    return os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)


def path_create_directory(state: WasiState, fd: int, path_ptr: int, path_len: int) -> int:
    with _at(state, fd, RIGHT_PATH_CREATE_DIRECTORY, "path_create_directory", path_ptr,
             path_len, False, mutates=True) as where:
        if where.name == ".":
            raise Errno(EEXIST)
        os.mkdir(where.name, 0o777, dir_fd=where.dir_fd)
    return ESUCCESS


def _path_filestat(state: WasiState, fd: int, flags: int, path_ptr: int, path_len: int,
                   buf: int, unstable: bool) -> int:
    follow = bool(flags & LOOKUP_SYMLINK_FOLLOW)
    with _at(state, fd, RIGHT_PATH_FILESTAT_GET, "path_filestat_get", path_ptr, path_len,
             follow) as where:
        info = _lstat(where)
        if where.must_be_dir and not stat.S_ISDIR(info.st_mode):
            raise Errno(ENOTDIR)
    state.store_filestat("path_filestat_get", buf, info, None, unstable)
    return ESUCCESS


def path_filestat_get(state: WasiState, fd: int, flags: int, path_ptr: int, path_len: int,
                      buf: int) -> int:
    return _path_filestat(state, fd, flags, path_ptr, path_len, buf, False)


def unstable_path_filestat_get(state: WasiState, fd: int, flags: int, path_ptr: int,
                               path_len: int, buf: int) -> int:
    return _path_filestat(state, fd, flags, path_ptr, path_len, buf, True)


def path_filestat_set_times(state: WasiState, fd: int, flags: int, path_ptr: int,
                            path_len: int, atim: int, mtim: int, fst_flags: int) -> int:
    follow = bool(flags & LOOKUP_SYMLINK_FOLLOW)
    with _at(state, fd, RIGHT_PATH_FILESTAT_SET_TIMES, "path_filestat_set_times", path_ptr,
             path_len, follow, mutates=True) as where:
        info = _lstat(where)
        stamps = times(atim, mtim, fst_flags, (info.st_atime_ns, info.st_mtime_ns))
        os.utime(where.name, ns=stamps, dir_fd=where.dir_fd, follow_symlinks=False)
    return ESUCCESS


def path_link(state: WasiState, old_fd: int, old_flags: int, old_ptr: int, old_len: int,
              new_fd: int, new_ptr: int, new_len: int) -> int:
    follow = bool(old_flags & LOOKUP_SYMLINK_FOLLOW)
    with _at(state, old_fd, RIGHT_PATH_LINK_SOURCE, "path_link (old)", old_ptr, old_len,
             follow, mutates=True) as old, _at(
        state, new_fd, RIGHT_PATH_LINK_TARGET, "path_link (new)", new_ptr, new_len, False,
        mutates=True,
    ) as new:
        info = _lstat(old)
        if stat.S_ISDIR(info.st_mode):
            raise Errno(EPERM)  # no hard links to directories
        if old.must_be_dir:
            raise Errno(ENOTDIR)
        if new.must_be_dir:
            raise Errno(EEXIST if _exists(new) else ENOENT)
        # The source's links were expanded by the resolver: the host must not follow any.
        os.link(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd,
                follow_symlinks=False)
    return ESUCCESS


def _exists(where: Resolved) -> bool:
    try:
        _lstat(where)
    except FileNotFoundError:
        return False
    return True


def path_open(state: WasiState, fd: int, dirflags: int, path_ptr: int, path_len: int,
              oflags: int, rights_base: int, rights_inheriting: int, fdflags: int,
              fd_ptr: int) -> int:
    directory = state.fds.directory(fd)
    oflags, fdflags, rights_base = oflags & 0xFFFF, fdflags & 0xFFFF, u64(rights_base)
    read = bool(rights_base & READ_RIGHTS)
    write = bool(rights_base & WRITE_RIGHTS) or bool(fdflags & FDFLAGS_APPEND)
    changes = write or oflags & (OFLAGS_CREAT | OFLAGS_TRUNC)
    if oflags & OFLAGS_CREAT and not directory.rights & RIGHT_PATH_CREATE_FILE:
        raise Errno(EROFS if not _grant_writable(directory) else ENOTCAPABLE)
    if oflags & OFLAGS_TRUNC and not directory.rights & RIGHT_PATH_FILESTAT_SET_SIZE:
        raise Errno(EROFS if not _grant_writable(directory) else EPERM)
    follow = bool(dirflags & LOOKUP_SYMLINK_FOLLOW) and not (
        oflags & OFLAGS_CREAT and oflags & OFLAGS_EXCL
    )
    with _at(state, fd, RIGHT_PATH_OPEN, "path_open", path_ptr, path_len, follow,
             mutates=bool(changes)) as where:
        as_dir = bool(oflags & OFLAGS_DIRECTORY or where.must_be_dir)
        if as_dir and rights_base & RIGHT_FD_WRITE:
            raise Errno(EISDIR)
        flags = _OPEN_ALWAYS
        if not as_dir:  # a directory is opened to read it, whatever rights were asked
            flags |= os.O_RDWR if read and write else os.O_WRONLY if write else os.O_RDONLY
        if oflags & OFLAGS_CREAT:
            flags |= os.O_CREAT
        if oflags & OFLAGS_EXCL:
            flags |= os.O_EXCL
        if oflags & OFLAGS_TRUNC:
            flags |= os.O_TRUNC
        if as_dir:
            if oflags & OFLAGS_CREAT:
                raise Errno(EISDIR if where.must_be_dir else EINVAL)
            flags |= os.O_DIRECTORY
        if fdflags & FDFLAGS_APPEND:
            flags |= os.O_APPEND
        for wasi_flag, host_flag in _SYNC_FLAGS.items():
            if fdflags & wasi_flag:
                flags |= host_flag
        try:
            host_fd = os.open(where.name, flags, 0o666, dir_fd=where.dir_fd)
        except IsADirectoryError:
            # A directory opened with file-writing rights but not FD_WRITE (a libc asking
            # for "everything"): opened to be read, as wasmtime does.
            if oflags & (OFLAGS_CREAT | OFLAGS_TRUNC) or fdflags & FDFLAGS_APPEND or (
                rights_base & RIGHT_FD_WRITE
            ):
                raise
            host_fd = os.open(where.name, _OPEN_ALWAYS | os.O_DIRECTORY, dir_fd=where.dir_fd)
    try:
        info = os.fstat(host_fd)
        if stat.S_ISDIR(info.st_mode):
            read, write = True, False
    except BaseException:
        os.close(host_fd)
        raise
    descriptor = _opened(directory, host_fd, filetype_of(info.st_mode), read, write,
                         fdflags)
    new_fd = state.fds.add(descriptor)
    state.memory.store_u32("path_open", fd_ptr, new_fd)
    return ESUCCESS


def _grant_writable(directory: Descriptor) -> bool:
    return directory.grant is not None and directory.grant.writable


def _opened(directory: Descriptor, host_fd: int, filetype: int, read: bool, write: bool,
            fdflags: int) -> Descriptor:
    """The descriptor of a newly opened file or directory, its rights derived from ``directory``.

    As wasmtime does, a file gets every file right its open mode allows (the
    rights a guest asks for only decide reading and writing); a directory
    inherits its parent's inheriting rights.
    """
    keep = fdflags & (FDFLAGS_APPEND | FDFLAGS_NONBLOCK | FDFLAGS_DSYNC | FDFLAGS_RSYNC
                      | FDFLAGS_SYNC)
    if filetype == FILETYPE_DIRECTORY:
        assert directory.grant is not None
        base, inherit = dir_rights(directory.grant)
        return Descriptor(filetype, base & directory.inheriting, inherit & directory.inheriting,
                          host_fd=host_fd, grant=directory.grant, readable=True, fdflags=keep)
    rights = FILE_RIGHTS & directory.inheriting
    if not read:
        rights &= ~READ_RIGHTS
    if not write:
        rights &= ~WRITE_RIGHTS
    return Descriptor(filetype, rights, 0, host_fd=host_fd, grant=directory.grant,
                      readable=read or not write, writable=write, fdflags=keep)


def path_readlink(state: WasiState, fd: int, path_ptr: int, path_len: int, buf: int,
                  buf_len: int, bufused_ptr: int) -> int:
    with _at(state, fd, RIGHT_PATH_READLINK, "path_readlink", path_ptr, path_len,
             False) as where:
        target = os.fsencode(os.readlink(where.name, dir_fd=where.dir_fd))
    _, buf_len = state.memory.span("path_readlink", buf, buf_len)
    data = target[:buf_len]  # cut to the buffer, as readlink(2) does
    state.memory.write("path_readlink", buf, data)
    state.memory.store_u32("path_readlink", bufused_ptr, len(data))
    return ESUCCESS


def path_remove_directory(state: WasiState, fd: int, path_ptr: int, path_len: int) -> int:
    with _at(state, fd, RIGHT_PATH_REMOVE_DIRECTORY, "path_remove_directory", path_ptr,
             path_len, False, mutates=True) as where:
        if where.name == ".":
            raise Errno(EINVAL)
        os.rmdir(where.name, dir_fd=where.dir_fd)
    return ESUCCESS


def path_rename(state: WasiState, fd: int, old_ptr: int, old_len: int, new_fd: int,
                new_ptr: int, new_len: int) -> int:
    with _at(state, fd, RIGHT_PATH_RENAME_SOURCE, "path_rename (old)", old_ptr, old_len,
             False, mutates=True) as old, _at(
        state, new_fd, RIGHT_PATH_RENAME_TARGET, "path_rename (new)", new_ptr, new_len,
        False, mutates=True,
    ) as new:
        if old.name == "." or new.name == ".":
            raise Errno(EINVAL)
        source = _lstat(old)
        if (old.must_be_dir or new.must_be_dir) and not stat.S_ISDIR(source.st_mode):
            raise Errno(ENOTDIR)
        os.rename(old.name, new.name, src_dir_fd=old.dir_fd, dst_dir_fd=new.dir_fd)
    return ESUCCESS


def path_symlink(state: WasiState, old_ptr: int, old_len: int, fd: int, new_ptr: int,
                 new_len: int) -> int:
    target = state.path("path_symlink (target)", old_ptr, old_len)
    if target.startswith("/"):
        raise Errno(EPERM)  # a link out of every grant (wasmtime refuses it too)
    with _at(state, fd, RIGHT_PATH_SYMLINK, "path_symlink", new_ptr, new_len, False,
             mutates=True) as where:
        if where.name == ".":
            raise Errno(EEXIST)
        if where.must_be_dir:  # "link/": only a directory may be named so, and it exists
            if not _exists(where):
                raise Errno(ENOENT)
            raise Errno(EEXIST if stat.S_ISDIR(_lstat(where).st_mode) else ENOTDIR)
        # The target is stored as text; following it later goes through the resolver.
        os.symlink(target, where.name, dir_fd=where.dir_fd)
    return ESUCCESS


def path_unlink_file(state: WasiState, fd: int, path_ptr: int, path_len: int) -> int:
    with _at(state, fd, RIGHT_PATH_UNLINK_FILE, "path_unlink_file", path_ptr, path_len,
             False, mutates=True) as where:
        if where.name == ".":
            raise Errno(EISDIR)
        if where.must_be_dir:
            info = _lstat(where)
            raise Errno(EISDIR if stat.S_ISDIR(info.st_mode) else ENOTDIR)
        os.unlink(where.name, dir_fd=where.dir_fd)
    return ESUCCESS
