"""The WASI host's own guarantees: no host descriptor leaks, bounded buffers and loops,
snapshot 0's layouts, the standard streams, and what a mistyped import gets."""

from __future__ import annotations

import gc
import os
import struct
from pathlib import Path

import pytest
from conftest import WAPC_IMPORTS, guest_from_wat, module_from_wat, wat
from wasi_probe import FD_READ, FD_WRITE, O_CREAT, Probe

from wapc_cli.engines.base import FuncSig
from wapc_cli.errors import GuestTrap
from wapc_cli.runtime.command import load_command
from wapc_cli.runtime.memory import GuestFault
from wapc_cli.runtime.wasi import DirGrant, WasiOptions
from wapc_cli.runtime.wasi_fd import MAX_OPEN
from wapc_cli.runtime.wasi_streams import MAX_LINE, LogOutput, RawOutput

ESUCCESS, EBADF, EINVAL, EMFILE, ENOSYS, ESPIPE = 0, 8, 28, 33, 52, 70


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="no /proc")


# -- host descriptors -------------------------------------------------------------------
@needs_proc
def test_reset_and_close_release_every_host_descriptor(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    before = open_fds()
    probe = Probe([DirGrant(str(tmp_path), "/", True)])
    for _ in range(10):
        assert probe.open("f")[0] == ESUCCESS
        assert probe.open(".", 2)[0] == ESUCCESS
    assert open_fds() == before + 1 + 20  # the grant's root and what the guest opened
    probe.host.reset()  # a rebuilt instance
    assert open_fds() == before + 1
    probe.close()
    assert open_fds() == before


@needs_proc
def test_too_many_open_files_is_emfile_not_a_leak(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    before = open_fds()
    probe = Probe([DirGrant(str(tmp_path), "/", True)])
    results = [probe.open("f")[0] for _ in range(MAX_OPEN + 5)]
    assert results.count(ESUCCESS) == MAX_OPEN and results[-1] == EMFILE
    assert open_fds() == before + 1 + MAX_OPEN
    probe.close()
    assert open_fds() == before


OPEN_AND_TRAP = f"""(module {WAPC_IMPORTS}
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "f")
  (func (export "__guest_call") (param i32 i32) (result i32)
    (drop (call $open (i32.const 3) (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 0)
                      (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
    unreachable))"""


@needs_proc
def test_a_guest_that_opens_and_traps_leaks_nothing(tmp_path: Path, engine_name: str) -> None:
    (tmp_path / "f").write_bytes(b"x")
    module = module_from_wat(OPEN_AND_TRAP, engine_name)
    options = WasiOptions(dirs=((str(tmp_path), "/"),))
    module.instantiate(wasi=options)  # the engine's per-module state (see below)
    gc.collect()
    before = open_fds()
    g = module.instantiate(wasi=options)
    baseline = open_fds()
    for _ in range(5):  # each call opens a file, traps; the next one rebuilds
        with pytest.raises(GuestTrap):
            g.call("op")
    assert open_fds() <= baseline + 1  # at most the last call's file, until the rebuild
    del g
    gc.collect()
    assert open_fds() <= before


@needs_proc
def test_a_command_closes_what_it_opened(tmp_path: Path, engine_name: str) -> None:
    (tmp_path / "f").write_bytes(b"x")
    text = OPEN_AND_TRAP.replace("(func (export \"__guest_call\") (param i32 i32) (result i32)",
                                 "(func (export \"_start\")").replace(WAPC_IMPORTS, "")
    command = load_command(wat(text.replace("unreachable", "")), engine=engine_name)
    options = WasiOptions(dirs=((str(tmp_path), "/"),))
    # A first run lets the engine make what it keeps per module (wasmtime: a memfd
    # holding the module's memory image); every later run must leave nothing behind.
    assert command.run(options, stdout=print, stderr=print).exit_code == 0
    before = open_fds()
    for _ in range(3):
        assert command.run(options, stdout=print, stderr=print).exit_code == 0
    assert open_fds() == before


# -- output and input --------------------------------------------------------------------
def test_log_output_cuts_a_line_that_never_ends() -> None:
    lines: list[tuple[str, str]] = []
    output = LogOutput(lambda text, source: lines.append((text, source)))
    for _ in range(40):
        output.write(1, b"x" * 10_000)
        assert output.held < MAX_LINE  # never more held back
    assert all(len(text) == MAX_LINE for text, _ in lines)
    assert len(lines) == 400_000 // MAX_LINE
    output.write(2, b"err\npartial")
    output.flush()
    rest = 400_000 % MAX_LINE
    assert lines[-3:] == [("err", "wasi:stderr"), ("x" * rest, "wasi:stdout"),
                          ("partial", "wasi:stderr")]


def test_raw_output_is_passed_through_unchanged() -> None:
    out: list[bytes] = []
    err: list[bytes] = []
    probe = Probe(output=RawOutput(out.append, err.append))
    assert probe.write(1, b"no newline \xff") == (ESUCCESS, 12)
    assert probe.write(2, b"a\nb") == (ESUCCESS, 3)
    assert (out, err) == ([b"no newline \xff"], [b"a\nb"])


def test_stdin_reads_what_it_was_given() -> None:
    probe = Probe(stdin=b"hello")
    assert probe.read(0, 3) == (ESUCCESS, b"hel")
    assert probe.read(0, 10) == (ESUCCESS, b"lo")
    assert probe.read(0, 10) == (ESUCCESS, b"")
    assert probe.read(1)[0] == EBADF  # stdout is not readable
    assert probe.write(0, b"x")[0] == EBADF


def test_the_standard_streams_are_character_devices() -> None:
    probe = Probe()
    for fd in (0, 1, 2):
        assert probe.call("fd_filestat_get", fd, probe.SCRATCH) == ESUCCESS
        assert probe.memory.data[probe.SCRATCH + 16] == 2  # filetype: character device
        assert probe.call("fd_fdstat_get", fd, probe.SCRATCH) == ESUCCESS
        filetype, _, rights, _ = struct.unpack_from("<BxHxxxxQQ", probe.memory.data,
                                                    probe.SCRATCH)
        assert filetype == 2 and not rights & ((1 << 2) | (1 << 5))  # isatty: no seek/tell
        assert probe.call("fd_seek", fd, 0, 0, probe.SCRATCH) == ESPIPE


# -- bounds ----------------------------------------------------------------------------
def test_huge_iovec_counts_and_lengths_are_bounded() -> None:
    probe = Probe()
    assert probe.call("fd_write", 1, 0, 1 << 30, probe.SCRATCH) == EINVAL
    iov, _ = probe.put(struct.pack("<II", 0, 0xFFFF_FFFF))
    with pytest.raises(GuestFault):  # a span outside memory: a trap, nothing touched
        probe.call("fd_write", 1, iov, 1, probe.SCRATCH)


def test_poll_oneoff_counts_are_checked() -> None:
    probe = Probe()
    assert probe.call("poll_oneoff", 0, 4096, 0, probe.SCRATCH) == EINVAL
    assert probe.call("poll_oneoff", 0, 4096, 1 << 31, probe.SCRATCH) == EINVAL


def test_poll_oneoff_answers_fd_subscriptions_at_once() -> None:
    probe = Probe(stdin=b"abc")
    subs = b"".join(
        struct.pack("<QB7xI28x", userdata, tag, fd)
        for userdata, tag, fd in ((1, 1, 0), (2, 2, 1), (3, 1, 9))
    )
    ptr, _ = probe.put(subs)
    assert probe.call("poll_oneoff", ptr, 0x9000, 3, probe.SCRATCH) == ESUCCESS
    assert probe.u32() == 3
    events = [struct.unpack_from("<QHBxxxxxQ", probe.memory.data, 0x9000 + 32 * i)
              for i in range(3)]
    assert events == [(1, 0, 1, 3), (2, 0, 2, 0), (3, EBADF, 1, 0)]


# -- snapshot 0 ----------------------------------------------------------------------------
def test_wasi_unstable_layouts(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    probe = Probe([(str(tmp_path), "/")], module="wasi_unstable")
    errno, fd = probe.open("f")
    assert errno == ESUCCESS
    # whence: 0 is CUR, 1 is END, 2 is SET in snapshot 0
    assert probe.call("fd_seek", fd, 4, 2, probe.SCRATCH) == ESUCCESS and probe.u32() == 4
    assert probe.call("fd_seek", fd, 1, 0, probe.SCRATCH) == ESUCCESS and probe.u32() == 5
    assert probe.call("fd_seek", fd, -1, 1, probe.SCRATCH) == ESUCCESS and probe.u32() == 9
    # filestat: 56 bytes, nlink a u32 at 20, size at 24
    probe.memory.data[probe.SCRATCH:probe.SCRATCH + 64] = b"\xee" * 64
    assert probe.call("fd_filestat_get", fd, probe.SCRATCH) == ESUCCESS
    data = probe.memory.data
    assert data[probe.SCRATCH + 16] == 4 and probe.u32(probe.SCRATCH + 20) == 1
    assert struct.unpack_from("<Q", data, probe.SCRATCH + 24)[0] == 10
    assert data[probe.SCRATCH + 56:probe.SCRATCH + 64] == b"\xee" * 8  # untouched
    assert "sock_accept" not in probe.functions
    probe.close()


def test_file_round_trip_with_pread_pwrite(tmp_path: Path) -> None:
    probe = Probe([DirGrant(str(tmp_path), "/", True)])
    errno, fd = probe.open("new", O_CREAT, FD_READ | FD_WRITE)
    assert errno == ESUCCESS
    assert probe.write(fd, b"hello world") == (ESUCCESS, 11)
    buf = probe.SCRATCH + 512
    iov, _ = probe.put(struct.pack("<II", buf, 5))
    assert probe.call("fd_pread", fd, iov, 1, 6, probe.SCRATCH) == ESUCCESS
    assert bytes(probe.memory.data[buf:buf + probe.u32()]) == b"world"
    probe.close()


# -- the import table ---------------------------------------------------------------------
def test_unknown_and_mistyped_imports() -> None:
    probe = Probe()
    wrong = FuncSig(("i32",), ("i32",))
    provided = probe.host.functions([
        ("wasi_snapshot_preview1", "no_such_function", wrong),
        ("wasi_snapshot_preview1", "fd_write", wrong),  # fd_write takes four i32
    ])
    assert provided[("wasi_snapshot_preview1", "no_such_function")](0) == ENOSYS
    with pytest.raises(GuestFault, match="WASI defines"):
        provided[("wasi_snapshot_preview1", "fd_write")](0)


MISTYPED = f"""(module {WAPC_IMPORTS}
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "__guest_call") (param i32 i32) (result i32)
    (drop (call $write (i32.const 1))) (i32.const 1)))"""


def test_a_mistyped_import_traps_cleanly(engine_name: str) -> None:
    g = guest_from_wat(MISTYPED, engine_name)
    with pytest.raises(GuestTrap, match="WASI defines"):
        g.call("op")
