"""``wapc run``: a WASI command's output and exit status become wapc's, on every engine.

Inline WAT commands through typer's CliRunner and as a real subprocess
(``python -m wapc_cli``): stdout and stderr byte for byte and in the order
written, the exit status from ``proc_exit`` (modulo 256, as a shell sees it),
wapc's own failures as one ``wapc:`` line with its documented exit code, the
``--json`` object that tells the two apart, limits, ``--dir`` grants and
``--stdin``. wasmer runs every command in the supervised child process, so
these also cover its "command" mode (the output relayed in bounded messages).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wat
from typer.testing import CliRunner

from wapc_cli.cli import run_cmd
from wapc_cli.cli.app import app
from wapc_cli.isolation.messages import OUTPUT_CHUNK

WASI = "wasi_snapshot_preview1"


def command_wat(writes: list[tuple[int, bytes]], exit_code: int | None = None,
                body: str = "") -> str:
    """A command whose ``_start`` writes each (fd, bytes) in order, runs ``body``, then
    calls ``proc_exit(exit_code)`` (returns normally when None)."""
    data, calls, at = [], [], 1024
    for fd, chunk in writes:
        escaped = "".join(f"\\{byte:02x}" for byte in chunk)
        data.append(f'(data (i32.const {at}) "{escaped}")')
        calls.append(f"(call $out (i32.const {fd}) (i32.const {at}) (i32.const {len(chunk)}))")
        at += len(chunk) + 16
    ending = f"(call $exit (i32.const {exit_code}))" if exit_code is not None else ""
    return f"""(module
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 40)
  {" ".join(data)}
  (func $out (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") {" ".join(calls)} {body} {ending}))"""


#: argv and environ, each entry written to stdout on a line of its own.
SHOW_ARGS_AND_ENV = f"""(module
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "args_sizes_get" (func $args_sizes (param i32 i32) (result i32)))
  (import "{WASI}" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "{WASI}" "environ_sizes_get" (func $env_sizes (param i32 i32) (result i32)))
  (import "{WASI}" "environ_get" (func $env_get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func $show (param $count i32) (param $ptrs i32) (local $i i32) (local $p i32) (local $n i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $p (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $i) (i32.const 2)))))
      (local.set $n (i32.const 0))
      (block $end (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $scan)))
      ;; the terminating NUL becomes the newline
      (i32.store8 (i32.add (local.get $p) (local.get $n)) (i32.const 10))
      (i32.store (i32.const 0) (local.get $p))
      (i32.store (i32.const 4) (i32.add (local.get $n) (i32.const 1)))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "_start")
    (drop (call $args_sizes (i32.const 16) (i32.const 20)))
    (drop (call $args_get (i32.const 1024) (i32.const 4096)))
    (call $show (i32.load (i32.const 16)) (i32.const 1024))
    (drop (call $env_sizes (i32.const 16) (i32.const 20)))
    (drop (call $env_get (i32.const 2048) (i32.const 32768)))
    (call $show (i32.load (i32.const 16)) (i32.const 2048))))"""

#: Reads stdin to its end (fd_read on fd 0) and writes each piece to stdout.
CAT = f"""(module
  (import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (loop $more
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const 4096))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8))
        (then (call $exit (i32.const 9))))
      (if (i32.load (i32.const 8))
        (then
          (i32.store (i32.const 4) (i32.load (i32.const 8)))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
          (br $more))))))"""


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("commands")
    sources = {
        "hello": command_wat([(1, b"hello, out\n"), (2, b"hello, err\n")]),
        "exit7": command_wat([(1, b"bye\n")], exit_code=7),
        "exit263": command_wat([], exit_code=263),
        "exit256": command_wat([], exit_code=256),
        "exit3": command_wat([(2, b"I fail on my own\n")], exit_code=3),
        "binary": command_wat([(1, bytes(range(256))), (1, b"\x1b]0;PWNED\x07\r\n")]),
        "interleaved": command_wat([(1, b"o1 "), (2, b"e1 "), (1, b"o2 "), (2, b"e2 "),
                                    (1, b"o3\n")]),
        "trap": command_wat([(1, b"before the trap\n")], body="unreachable"),
        "spin": command_wat([(1, b"spinning\n")], body="(loop $l (br $l))"),
        # 1 MiB of zeros to stdout, again and again
        "flood": command_wat([], body="(loop $l (call $out (i32.const 1) (i32.const 65536) "
                                      "(i32.const 1048576)) (br $l))"),
        "args": SHOW_ARGS_AND_ENV,
        "cat": CAT,
        "not_a_command": '(module (memory (export "memory") 1) (func (export "main")))',
    }
    paths = {}
    for name, text in sources.items():
        path = folder / f"{name}.wasm"
        path.write_bytes(wat(text))
        paths[name] = path
    # one big write: the supervised child relays it as several bounded messages
    big = bytes(i % 251 for i in range(3 * OUTPUT_CHUNK + 123))
    big_wat = command_wat([]).replace(
        '(func (export "_start")',
        '(func (export "_start") (call $out (i32.const 1) (i32.const 65536) '
        f'(i32.const {len(big)}))',
    ).replace("(memory (export \"memory\") 40)",
              '(memory (export "memory") 40) (data (i32.const 65536) "'
              + "".join(f"\\{b:02x}" for b in big) + '")')
    # "sleeping" on stdout, then a 60 s poll_oneoff sleep (a relative monotonic clock)
    sleep_wat = command_wat([(1, b"sleeping\n")], body=(
        "(i64.store (i32.const 2072) (i64.const 60000000000))"
        "(i32.store (i32.const 2064) (i32.const 1))"
        "(drop (call $poll (i32.const 2048) (i32.const 4096) (i32.const 1) (i32.const 4200)))"
    )).replace('(memory (export "memory")', f'(import "{WASI}" "poll_oneoff" '
               '(func $poll (param i32 i32 i32 i32) (result i32))) (memory (export "memory")')
    paths["sleep"] = folder / "sleep.wasm"
    paths["sleep"].write_bytes(wat(sleep_wat))
    paths["big"] = folder / "big.wasm"
    paths["big"].write_bytes(wat(big_wat))
    paths["big_expected"] = folder / "big.out"
    paths["big_expected"].write_bytes(big)
    return paths


def cli(*args: str, input: bytes | None = None) -> tuple[int, bytes, bytes]:
    result = CliRunner().invoke(app, list(args), input=input, env={"NO_COLOR": "1"})
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, result.stdout_bytes, result.stderr_bytes


def subprocess_run(*args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    options: dict[str, object] = {"capture_output": True, **kw}
    if "stdout" in kw:
        options.pop("capture_output")
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "wapc_cli", *args], timeout=120,
        env={**os.environ, "NO_COLOR": "1"}, **options,
    )


# -- output and exit status --------------------------------------------------------------
def test_stdout_and_stderr_are_the_guests(commands: dict[str, Path], engine_name: str) -> None:
    code, out, err = cli("run", "-e", engine_name, str(commands["hello"]))
    assert (code, out, err) == (0, b"hello, out\n", b"hello, err\n")


def test_output_is_byte_exact_off_a_terminal(commands: dict[str, Path], engine_name: str) -> None:
    code, out, _ = cli("run", "-e", engine_name, str(commands["binary"]))
    assert code == 0
    assert out == bytes(range(256)) + b"\x1b]0;PWNED\x07\r\n"


def test_a_big_write_arrives_whole(commands: dict[str, Path], engine_name: str) -> None:
    done = subprocess_run("run", "-e", engine_name, str(commands["big"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout == commands["big_expected"].read_bytes()


def test_proc_exit_is_the_exit_status(commands: dict[str, Path], engine_name: str) -> None:
    assert cli("run", "-e", engine_name, str(commands["exit7"]))[:2] == (7, b"bye\n")
    done = subprocess_run("run", "-e", engine_name, str(commands["exit7"]))
    assert (done.returncode, done.stdout, done.stderr) == (7, b"bye\n", b"")


def test_an_exit_status_over_255_is_what_a_shell_sees(
    commands: dict[str, Path], engine_name: str
) -> None:
    """proc_exit(263) -> 7, proc_exit(256) -> 0: the status modulo 256; --json has all of it."""
    assert subprocess_run("run", "-e", engine_name, str(commands["exit263"])).returncode == 7
    assert subprocess_run("run", "-e", engine_name, str(commands["exit256"])).returncode == 0
    code, out, _ = cli("run", "--json", "-e", engine_name, str(commands["exit256"]))
    document = json.loads(out)
    assert (code, document["guest_exit_code"], document["exit_code"]) == (0, 256, 0)
    assert document["ok"] is False  # the guest did not exit 0


def test_output_and_errors_keep_their_order(commands: dict[str, Path], engine_name: str) -> None:
    """Each write is flushed as it comes: one pipe for both streams shows the guest's order."""
    done = subprocess_run("run", "-e", engine_name, str(commands["interleaved"]),
                          stderr=subprocess.STDOUT, stdout=subprocess.PIPE)
    assert (done.returncode, done.stdout) == (0, b"o1 e1 o2 e2 o3\n")


# -- wapc's own failures -------------------------------------------------------------------
def test_a_trap_keeps_wapcs_exit_code(commands: dict[str, Path], engine_name: str) -> None:
    code, out, err = cli("run", "-e", engine_name, str(commands["trap"]))
    assert code == 3 and out == b"before the trap\n"
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wapc: error: guest trapped"), err


def test_a_guest_exiting_3_is_told_apart_by_json(
    commands: dict[str, Path], engine_name: str
) -> None:
    """The same exit status 3; without --json only the 'wapc:' line says it was a trap."""
    own = cli("run", "-e", engine_name, str(commands["exit3"]))
    assert own == (3, b"", b"I fail on my own\n")
    code, out, _ = cli("run", "--json", "-e", engine_name, str(commands["exit3"]))
    document = json.loads(out)
    assert code == 3 and document["error"] is None and document["guest_exit_code"] == 3
    assert document["stderr"] == {"text": "I fail on my own\n", "b64": "SSBmYWlsIG9uIG15IG93bgo=",
                                  "len": 17, "truncated": False}
    code, out, err = cli("run", "--json", "-e", engine_name, str(commands["trap"]))
    document = json.loads(out)
    assert code == 3 and document["guest_exit_code"] is None
    assert document["error"]["kind"] == "trap" and document["exit_code"] == 3
    assert document["stdout"]["text"] == "before the trap\n"
    assert document["engine"] == engine_name
    assert err.decode().startswith("wapc: error: guest trapped")


def test_json_of_a_clean_run(commands: dict[str, Path], engine_name: str) -> None:
    code, out, err = cli("run", "--json", "-e", engine_name, str(commands["hello"]), "--", "x")
    assert (code, err) == (0, b"")
    document = json.loads(out)
    assert document == {
        "ok": True, "module": str(commands["hello"]), "args": ["x"], "engine": engine_name,
        "guest_exit_code": 0, "error": None, "exit_code": 0,
        "stdout": {"text": "hello, out\n", "b64": "aGVsbG8sIG91dAo=", "len": 11,
                   "truncated": False},
        "stderr": {"text": "hello, err\n", "b64": "aGVsbG8sIGVycgo=", "len": 11,
                   "truncated": False},
    }


def test_a_module_without_start_is_not_a_command(
    commands: dict[str, Path], engine_name: str
) -> None:
    code, out, err = cli("run", "-e", engine_name, str(commands["not_a_command"]))
    assert (code, out) == (4, b"")
    assert err.decode() == (f"wapc: error: module '{commands['not_a_command']}' does not "
                            "export a function '_start' (not a command)\n")
    reactor = Path(__file__).resolve().parent.parent / "sample_guests/build/c_reactor.wasm"
    code, out, err = cli("run", "-e", engine_name, str(reactor), "--json")
    assert code == 4 and json.loads(out)["error"]["kind"] == "not_a_guest"


def test_usage_errors_are_one_line_and_exit_2(commands: dict[str, Path], tmp_path: Path) -> None:
    hello = str(commands["hello"])
    for flags, expected in (
        (["--dir", str(tmp_path / "missing")], f"--dir: '{tmp_path / 'missing'}' is not a "
         "directory"),
        (["--dir", ":rw"], "--dir: ':rw' names no host directory"),
        (["--timeout", "soon"], "--timeout: 'soon' is not a number of seconds"),
        (["--env", "=x"], "--env: '=x' needs a name"),
        (["--stdin", str(tmp_path / "nope")], str(tmp_path / "nope")),
    ):
        code, out, err = cli("run", hello, *flags)
        lines = err.decode().splitlines()
        assert code == 2 and out == b"", (flags, err)
        assert len(lines) == 1 and lines[0].startswith("wapc: error: ") and expected in lines[0], \
            (flags, err)
    code, out, _ = cli("run", str(tmp_path / "nothing.wasm"), "--json")
    assert code == 2 and json.loads(out)["error"]["kind"] == "usage"


def test_arguments_and_environment_must_be_utf8(commands: dict[str, Path], tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused (exit 2), not handed over, nor a trap."""
    target = str(commands["args"])
    for extra, expected in (
        (["--", b"ok\xff".decode("utf-8", "surrogateescape")], "a guest argument: 'ok\\udcff'"),
        (["--env", b"K=\xfe".decode("utf-8", "surrogateescape")], "--env K: '\\udcfe'"),
    ):
        done = subprocess.run(
            [os.fsencode(sys.executable), b"-m", b"wapc_cli", b"run", os.fsencode(target),
             *(os.fsencode(item) for item in extra)],
            capture_output=True, timeout=120,
        )
        assert done.returncode == 2 and done.stdout == b"", done.stderr
        assert done.stderr.decode() == f"wapc: error: {expected} is not valid UTF-8\n"
    # a module whose file name is not UTF-8 still runs: argv[0] gets U+FFFD for the bytes
    odd = tmp_path / os.fsdecode(b"\xff.wasm")
    odd.write_bytes(commands["args"].read_bytes())
    done = subprocess.run([sys.executable, "-m", "wapc_cli", "run", str(odd)],
                          capture_output=True, timeout=120)
    assert (done.returncode, done.stdout) == (0, "\ufffd.wasm\n".encode())


# -- limits -------------------------------------------------------------------------------
def test_the_timeout_stops_a_spinning_command(commands: dict[str, Path], engine_name: str) -> None:
    started = time.monotonic()
    done = subprocess_run("run", "-e", engine_name, "--timeout", "1", str(commands["spin"]))
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert done.stdout == b"spinning\n"
    assert b"wapc: error: timeout" in done.stderr
    assert elapsed < 15, elapsed  # generous: start-up and the kill on a busy machine


def test_fuel_is_a_limit_on_wasmtime(commands: dict[str, Path]) -> None:
    code, out, err = cli("run", "-e", "wasmtime", "--fuel", "100000", str(commands["spin"]))
    assert code == 3 and out == b"spinning\n" and b"fuel" in err


# -- what the guest is given ----------------------------------------------------------------
def test_args_after_the_module_and_arg_flags(commands: dict[str, Path], engine_name: str) -> None:
    """argv[0] is the module's file name; --arg values come first, then the ARGS."""
    code, out, _ = cli("run", "-e", engine_name, "--arg", "first", str(commands["args"]),
                       "--", "-x", "two words", "--env", "--")
    assert code == 0
    assert out.decode().splitlines() == ["args.wasm", "first", "-x", "two words", "--env", "--"]


def test_env_is_granted_only_by_flag(
    commands: dict[str, Path], engine_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WAPC_RUN_PROBE", "from the host")
    code, out, _ = cli("run", "-e", engine_name, str(commands["args"]))
    assert (code, out) == (0, b"args.wasm\n")
    code, out, _ = cli("run", "-e", engine_name, "--env", "A=1", "--env", "WAPC_RUN_PROBE",
                       str(commands["args"]))
    assert out.decode().splitlines() == ["args.wasm", "A=1", "WAPC_RUN_PROBE=from the host"]


def test_stdin_is_empty_unless_given(
    commands: dict[str, Path], engine_name: str, tmp_path: Path
) -> None:
    assert cli("run", "-e", engine_name, str(commands["cat"]), input=b"ignored")[:2] == (0, b"")
    data = bytes(range(256)) * 40  # 10 KiB: several reads
    source = tmp_path / "input.bin"
    source.write_bytes(data)
    assert cli("run", "-e", engine_name, "--stdin", str(source), str(commands["cat"]))[:2] == (
        0, data)
    done = subprocess_run("run", "-e", engine_name, "--stdin", "-", str(commands["cat"]),
                          input=b"piped in\n")
    assert (done.returncode, done.stdout) == (0, b"piped in\n")


# -- the terminal writer --------------------------------------------------------------------
class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_control_characters_are_escaped() -> None:
    screen = FakeTerminal()
    writer = run_cmd.ByteWriter(screen)
    writer.write(b"\x1b]0;PWNED\x07red\r\n\tok \xc3")  # a character split across writes
    writer.write(b"\xa9 \xff\n")
    writer.close()
    assert screen.getvalue() == "\\x1b]0;PWNED\\x07red\\r\n\tok \u00e9 \ufffd\n"


def test_a_reader_that_goes_away_ends_nothing_but_the_output(commands: dict[str, Path]) -> None:
    """`wapc run ... | head -c 10`: the rest of the output is dropped, the status stays."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "run", str(commands["big"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(10) == commands["big_expected"].read_bytes()[:10]
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_ctrl_c_stops_a_command(commands: dict[str, Path], engine_name: str) -> None:
    """SIGINT ends an endless command (no timeout set) with 'interrupted', exit 130."""
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "run", "-e", engine_name, "--timeout", "none",
         str(commands["spin"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"spinning\n"  # it is running the guest now
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert (process.returncode, out, err) == (130, b"", b"wapc: error: interrupted\n")


def test_ctrl_c_stops_a_command_whose_reader_does_not_read(
    commands: dict[str, Path], engine_name: str
) -> None:
    """`wapc run flood.wasm | sleep 60`: the pipe is full, the write waits, Ctrl-C still ends
    the run at once (a blocked write is retried after the signal handler: never seen)."""
    import array
    import fcntl
    import signal
    import termios

    F_GETPIPE_SZ = 1032  # Linux's fcntl: a pipe's capacity

    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "run", "-e", engine_name, "--timeout", "600",
         str(commands["flood"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None and process.stderr is not None
    # Nothing is ever read: wait until the pipe is full (wapc's write then waits).
    capacity = fcntl.fcntl(process.stdout.fileno(), F_GETPIPE_SZ)
    held = array.array("i", [0])
    deadline = time.monotonic() + 120
    while held[0] < capacity:
        assert time.monotonic() < deadline and process.poll() is None, "it never wrote"
        time.sleep(0.05)
        fcntl.ioctl(process.stdout.fileno(), termios.FIONREAD, held)
    process.send_signal(signal.SIGINT)
    try:
        returncode = process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()
    assert returncode == 130
    assert process.stderr.read() == b"wapc: error: interrupted\n"


def test_with_stdout_closed(commands: dict[str, Path], engine_name: str) -> None:
    """`wapc run ... >&-`: a guest that writes nothing there still exits with its status;
    one that writes gets the documented "cannot write to standard output" (74)."""
    def closed_stdout(name: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "wapc_cli", "run", "-e", engine_name, str(commands[name])],
            stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1), timeout=120,
        )

    quiet = closed_stdout("exit263")
    assert (quiet.returncode, quiet.stderr) == (7, b"")
    loud = closed_stdout("exit7")
    assert loud.returncode == 74
    assert loud.stderr == b"wapc: error: cannot write to standard output: Bad file descriptor\n"


def test_ctrl_c_ends_a_sleep_under_a_timeout(commands: dict[str, Path], engine_name: str) -> None:
    """SIGINT during a poll_oneoff sleep with a timeout set (wasmer: the supervised child)
    ends the run at once with 'interrupted', exit 130, long before the sleep or the limit."""
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "wapc_cli", "run", "-e", engine_name, "--timeout", "600",
         str(commands["sleep"])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"sleeping\n"  # it is in (or entering) the sleep
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)  # the sleep itself is 60 s
    assert (process.returncode, out, err) == (130, b"", b"wapc: error: interrupted\n")
