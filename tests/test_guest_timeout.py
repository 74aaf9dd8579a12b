"""A Rust guest that sleeps (``std::thread::sleep``, WASI ``poll_oneoff``), as a real process.

``wapc_guest_timeout.wasm`` is built like wapc-rs's ``wapc-guest-timeout``
example (sample_guests/rust/rust_guest_timeout.rs). Its sleep must work (it
used to panic: "thread::sleep(): unexpected result of poll_oneoff") and must
still end at ``--timeout``: a guest asleep in a host function is stopped like
one that spins, on every engine (wasmer in its supervised child process).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

GUEST = Path(__file__).resolve().parent.parent / "sample_guests/build/wapc_guest_timeout.wasm"


def wapc_call(*args: str) -> tuple[subprocess.CompletedProcess[bytes], float]:
    assert GUEST.is_file(), f"{GUEST} missing: build the sample guests (scripts/build-guests rust)"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "wapc_cli", "call", str(GUEST), "sleep", *args],
        capture_output=True, timeout=120, env={**os.environ, "NO_COLOR": "1"},
    )
    return done, time.monotonic() - started


def test_the_guest_sleeps_and_answers(engine_name: str) -> None:
    done, elapsed = wapc_call("--payload", "1", "-e", engine_name)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"slept for 1 seconds"
    assert elapsed >= 1.0  # it did sleep


def test_a_long_sleep_stops_at_the_timeout(engine_name: str) -> None:
    done, elapsed = wapc_call("--payload", "30", "--timeout", "2", "-e", engine_name)
    assert done.returncode == 3, done.stderr
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert lines and lines[-1].startswith("wapc: error: timeout"), done.stderr
    assert "panicked" not in done.stderr.decode()
    assert 2.0 <= elapsed < 6.0, elapsed  # about 2 s: the sleep did not run on to 30


def test_a_payload_that_is_not_a_number_is_the_guests_error(engine_name: str) -> None:
    done, _ = wapc_call("--payload", "soon", "-e", engine_name)
    assert done.returncode == 1
    assert done.stderr.decode().strip().endswith(
        "payload 'soon' is not a whole number of seconds")
