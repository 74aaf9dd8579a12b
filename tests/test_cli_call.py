"""`wapc call` end to end: through CliRunner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime
from typer.testing import CliRunner

from wapc_cli.cli.app import app

ECHO_WAT = """
(module
  (import "wapc" "__guest_request" (func $req (param i32 i32)))
  (import "wapc" "__guest_response" (func $resp (param i32 i32)))
  (import "wapc" "__guest_error" (func $err (param i32 i32)))
  (import "wapc" "__console_log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "fail")
  (data (i32.const 32) "boom: requested")
  (data (i32.const 64) "logged line")
  (func $grow_for (param $need i32)
    ;; make room for the payload at offset 65536 (memory grows: the host must follow)
    (if (i32.gt_u (i32.add (local.get $need) (i32.const 65536))
                  (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow
        (i32.add (i32.div_u (local.get $need) (i32.const 65536)) (i32.const 1)))))))
  (func (export "__guest_call") (param $op_len i32) (param $len i32) (result i32)
    (call $grow_for (local.get $len))
    (call $req (i32.const 0) (i32.const 65536))
    ;; op "fail" -> guest error; op "trap" -> unreachable; op "log" -> console log
    (if (i32.eq (i32.load (i32.const 0)) (i32.load (i32.const 16)))
      (then (call $err (i32.const 32) (i32.const 15)) (return (i32.const 0))))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x70617274)) ;; "trap"
      (then unreachable))
    (if (i32.eq (i32.load (i32.const 0)) (i32.const 0x00676f6c)) ;; "log\\0"
      (then (call $log (i32.const 64) (i32.const 11))))
    (call $resp (i32.const 65536) (local.get $len))
    (i32.const 1)))
"""

NOT_A_GUEST_WAT = '(module (memory (export "memory") 1) (func (export "run")))'


@pytest.fixture(scope="module")
def echo_wasm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("guests") / "echo.wasm"
    path.write_bytes(wasmtime.wat2wasm(ECHO_WAT))
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_echo_text(runner: CliRunner, echo_wasm: Path, engine_name: str) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "echo", "-p", "hi", "-e", engine_name])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == b"hi"


def test_payload_from_file_is_byte_exact(
    runner: CliRunner, echo_wasm: Path, tmp_path: Path, engine_name: str
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    payload = tmp_path / "payload.bin"
    payload.write_bytes(data)
    result = runner.invoke(
        app, ["call", str(echo_wasm), "echo", "--payload", f"@{payload}", "-e", engine_name]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == data


def test_payload_from_stdin(runner: CliRunner, echo_wasm: Path) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "echo", "-p", "@-"], input=b"\x00\xffz")
    assert result.exit_code == 0
    assert result.stdout_bytes == b"\x00\xffz"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--payload-hex", "00 ff 41"], b"\x00\xffA"),
        (["--payload-hex", "0x4142"], b"AB"),
        (["--payload-json", '{"a": [1, 2]}'], b'{"a":[1,2]}'),
        (["--payload-json", '{"a": 1}', "--encode", "msgpack"], b"\x81\xa1a\x01"),
        (["--payload", "@@literal"], b"@literal"),
    ],
)
def test_payload_forms(
    runner: CliRunner, echo_wasm: Path, args: list[str], expected: bytes
) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "echo", *args])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == expected


@pytest.mark.parametrize(
    ("decode", "expected"),
    [("hex", "7b2261223a317d\n"), ("json", '{\n  "a": 1\n}\n'), ("text", '{"a":1}\n')],
)
def test_decode_modes(runner: CliRunner, echo_wasm: Path, decode: str, expected: str) -> None:
    result = runner.invoke(
        app, ["call", str(echo_wasm), "echo", "--payload", '{"a":1}', "--decode", decode]
    )
    assert result.exit_code == 0
    assert result.stdout == expected


def test_decode_msgpack(runner: CliRunner, echo_wasm: Path) -> None:
    result = runner.invoke(
        app,
        ["call", str(echo_wasm), "echo", "--payload-json", '{"k": "v"}', "--encode", "msgpack",
         "--decode", "msgpack"],
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"k": "v"}


def test_json_result_object(runner: CliRunner, echo_wasm: Path, engine_name: str) -> None:
    result = runner.invoke(
        app, ["call", str(echo_wasm), "echo", "-p", "hi", "--json", "-e", engine_name]
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["response"] == "hi"
    assert data["response_b64"] == "aGk="
    assert data["engine"] == engine_name
    assert set(data["timings"]) == {"compile", "instantiate", "init", "call"}
    assert data["error"] is None


def test_guest_error_exit_1(runner: CliRunner, echo_wasm: Path, engine_name: str) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "fail", "-e", engine_name])
    assert result.exit_code == 1
    assert result.stdout_bytes == b""
    assert result.stderr == "wapc: error: boom: requested\n"


def test_guest_error_json(runner: CliRunner, echo_wasm: Path) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "fail", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["error"]["kind"] == "guest_error"
    assert data["error"]["message"] == "boom: requested"


def test_trap_exit_3(runner: CliRunner, echo_wasm: Path, engine_name: str) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "trap", "-e", engine_name])
    assert result.exit_code == 3
    assert result.stderr.startswith("wapc: error: guest trapped:")
    assert len(result.stderr.splitlines()) == 1


def test_console_log_goes_to_stderr(runner: CliRunner, echo_wasm: Path) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "log", "-p", "x"])
    assert result.exit_code == 0
    assert result.stdout_bytes == b"x"
    assert "logged line" in result.stderr
    quiet = runner.invoke(app, ["call", str(echo_wasm), "log", "-p", "x", "-q"])
    assert "logged line" not in quiet.stderr


def _file(name: str, data: bytes | None) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        if name == ".":
            return directory
        path = directory / name
        if data is not None:
            path.write_bytes(data)
        return path

    return make


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (_file("missing.wasm", None), "no such file"),
        (_file("empty.wasm", b""), "is empty"),
        (_file("text.wasm", b"(module)"), "not a WebAssembly"),
        (_file("short.wasm", b"\0asm"), "truncated"),
        (_file(".", None), "is a directory"),
    ],
    ids=["missing", "empty", "text", "truncated", "directory"],
)
def test_bad_module_file_exit_2(
    runner: CliRunner, tmp_path: Path, make: Callable[[Path], Path], needle: str
) -> None:
    path = make(tmp_path)
    result = runner.invoke(app, ["call", str(path), "echo"])
    assert result.exit_code == 2
    assert needle in result.stderr
    assert str(path) in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_garbage_after_header_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "junk.wasm"
    path.write_bytes(b"\0asm\x01\0\0\0\xff\xff\xff")
    result = runner.invoke(app, ["call", str(path), "echo"])
    assert result.exit_code == 2
    assert "not a valid WebAssembly module" in result.stderr


def test_not_a_guest_exit_4(runner: CliRunner, tmp_path: Path, engine_name: str) -> None:
    path = tmp_path / "plain.wasm"
    path.write_bytes(wasmtime.wat2wasm(NOT_A_GUEST_WAT))
    result = runner.invoke(app, ["call", str(path), "echo", "-e", engine_name])
    assert result.exit_code == 4
    assert "__guest_call" in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-p", "@/nonexistent/payload"], "payload file '/nonexistent/payload'"),
        (["--payload-hex", "zz"], "--payload-hex"),
        (["--payload-json", "{bad"], "--payload-json"),
        (["-p", "a", "--payload-hex", "00"], "only one of"),
        (["--decode", "nope"], "--decode"),
        (["--engine", "v8"], "unknown engine 'v8'"),
        (["--max-memory", "lots"], "--max-memory"),
        (["--timeout", "-1"], "--timeout"),
        (["--no-such-flag"], "--no-such-flag"),
    ],
)
def test_bad_input_exit_2(
    runner: CliRunner, echo_wasm: Path, args: list[str], needle: str
) -> None:
    result = runner.invoke(app, ["call", str(echo_wasm), "echo", *args])
    assert result.exit_code == 2, result.stderr
    assert needle in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("wapc: error: ")


def test_traceback_only_on_request(runner: CliRunner, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.wasm")
    plain = runner.invoke(app, ["call", missing, "echo"])
    assert "Traceback" not in plain.stderr
    debug = runner.invoke(app, ["--traceback", "call", missing, "echo"])
    assert debug.exit_code == 2
    assert "Traceback" in debug.stderr


def _subprocess(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "wapc_cli", *args], input=stdin, capture_output=True,
        env=env, timeout=120, check=False,
    )


def test_subprocess_binary_stdout_is_byte_exact(
    echo_wasm: Path, tmp_path: Path, engine_name: str
) -> None:
    data = os.urandom(1 << 20) + b"\r\n\x00\n"
    payload = tmp_path / "p.bin"
    payload.write_bytes(data)
    proc = _subprocess("call", str(echo_wasm), "echo", "-p", f"@{payload}", "-e", engine_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data
    assert proc.stderr == b""


def test_subprocess_exit_codes(echo_wasm: Path, tmp_path: Path) -> None:
    assert _subprocess("call", str(echo_wasm), "fail").returncode == 1
    assert _subprocess("call", str(tmp_path / "missing.wasm"), "echo").returncode == 2
    trapped = _subprocess("call", str(echo_wasm), "trap")
    assert trapped.returncode == 3
    assert b"Traceback" not in trapped.stderr


def test_subprocess_help_and_version() -> None:
    assert _subprocess("--help").returncode == 0
    version = _subprocess("--version")
    assert version.returncode == 0
    assert version.stdout.startswith(b"wapc ")


SAMPLE = Path(__file__).resolve().parent.parent / "sample_guests" / "build" / "as_guest.wasm"


def test_sample_guest_echoes_a_1mib_file_byte_for_byte(tmp_path: Path, engine_name: str) -> None:
    # The acceptance check, as a user runs it: a real SDK guest, a real process.
    data = os.urandom(1 << 20)
    payload = tmp_path / "one-mib.bin"
    payload.write_bytes(data)
    proc = _subprocess("call", str(SAMPLE), "echo", "--payload", f"@{payload}", "-e", engine_name)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == data


def test_sample_guest_outcomes_and_exit_codes(tmp_path: Path, engine_name: str) -> None:
    failed = _subprocess("call", str(SAMPLE), "fail", "-e", engine_name)
    assert (failed.returncode, failed.stdout) == (1, b"")
    assert failed.stderr == b"wapc: error: requested failure\n"
    trapped = _subprocess("call", str(SAMPLE), "trap", "-e", engine_name)
    assert trapped.returncode == 3
    assert trapped.stderr.startswith(b"wapc: error: guest trapped:")
    missing = _subprocess("call", str(tmp_path / "nope.wasm"), "echo", "-e", engine_name)
    assert missing.returncode == 2
    expected = f"wapc: error: module '{tmp_path / 'nope.wasm'}': no such file\n"
    assert missing.stderr == expected.encode()
