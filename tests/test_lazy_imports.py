"""What a one-shot process loads: only what its command and its guest need.

Each module a cold ``wapc call`` imports costs start-up time (docs/performance.md);
these pin the parts that are loaded only on demand, each in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import wapc_cli

ROOT = Path(__file__).resolve().parent.parent
AS_GUEST = ROOT / "sample_guests" / "build" / "as_guest.wasm"
WASI_GUEST = ROOT / "sample_guests" / "build" / "rust_guest_wasi.wasm"

#: Modules a plain call of a guest without WASI imports must not load.
ON_DEMAND = ("wapc_cli.runtime.wasi", "wapc_cli.runtime.wasi_fd", "wapc_cli.runtime.wasi_streams",
             "wapc_cli.runtime.wasi_table", "json", "base64", "typer", "rich", "dataclasses")


def _loaded_after(code: str, *args: str, cache_dir: Path) -> tuple[str, list[str]]:
    """Run ``code`` in a fresh interpreter; its stdout and the ON_DEMAND modules it loaded."""
    probe = (f"{code}\nimport sys\nsys.stderr.write('\\nLOADED=' + ','.join("
             f"m for m in {ON_DEMAND!r} if m in sys.modules))\n")
    env = dict(os.environ, WAPC_CACHE_DIR=str(cache_dir))
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, env=env,
                          timeout=120)
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    loaded = stderr.rsplit("LOADED=", 1)[1].strip()
    return proc.stdout.decode(), [m for m in loaded.split(",") if m]


def test_importing_the_package_loads_none_of_its_parts() -> None:
    code = "import sys, wapc_cli; print(sorted(m for m in sys.modules if m.startswith('wapc_cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['wapc_cli']"


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in wapc_cli.__all__:
        assert getattr(wapc_cli, name) is not None, name
    assert set(wapc_cli.__all__) <= set(dir(wapc_cli))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wapc_cli.nope  # noqa: B018
    from wapc_cli.runtime import wasi

    assert wapc_cli.WasiOptions is wasi.WasiOptions  # re-exported there too


def test_a_plain_call_of_a_guest_without_wasi_loads_no_wasi_host(tmp_path: Path) -> None:
    code = ("import sys; from wapc_cli.cli import entry\n"
            "rc = entry.run(['call', sys.argv[1], 'echo', '-p', 'hello'])\nassert rc == 0, rc")
    for _ in range(2):  # the first compiles and stores, the second is a cache hit
        stdout, loaded = _loaded_after(code, str(AS_GUEST), cache_dir=tmp_path)
        assert stdout == "hello" and loaded == []


def test_a_guest_with_wasi_imports_gets_the_wasi_host(tmp_path: Path) -> None:
    code = ("import sys; from wapc_cli.runtime.guest import load_module\n"
            "g = load_module(sys.argv[1]).instantiate()\n"
            "print(type(g.wasi).__name__)")
    stdout, loaded = _loaded_after(code, str(WASI_GUEST), cache_dir=tmp_path)
    assert stdout.strip() == "WasiHost" and "wapc_cli.runtime.wasi" in loaded


def test_a_directory_grant_is_opened_even_for_a_guest_without_wasi(tmp_path: Path) -> None:
    """A grant that cannot be opened is reported whatever the guest imports."""
    from wapc_cli import InputFileError, WasiOptions, load_module

    module = load_module(AS_GUEST, cache=None)
    with pytest.raises(InputFileError, match=r"directory grant .*cannot open it"):
        module.instantiate(wasi=WasiOptions(dirs=[(str(tmp_path / "absent"), "/d")]))
    granted = module.instantiate(wasi=WasiOptions(dirs=[(str(tmp_path), "/d")]))
    assert type(granted.wasi).__name__ == "WasiHost" and granted.call("echo", b"x") == b"x"
    assert type(module.instantiate().wasi).__name__ == "NoWasiHost"
