"""Writing a crash bundle: ``<module>.<operation>.core.wasm`` and ``<module>.<operation>.json``.

Both files are claimed before either is written, with ``O_EXCL`` unless the
caller forces an overwrite, so an existing file is never replaced by accident
(nor half a bundle left when one of the two exists).
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import GuestTrap, TrapFrame, UsageError, WapcError
from ...runtime.guest import Guest
from ...wasm.coredump import CoreDump, CoreFrame, write_coredump
from ...wasm.symbols import symbolizer_for
from .recorder import ExchangeRecorder

RECORD_FORMAT = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class CrashBundle:
    core: Path
    record: Path


def _stem(text: str, limit: int = 80) -> str:
    cleaned = _UNSAFE.sub("_", text).strip("._") or "_"
    return cleaned[:limit]


def bundle_paths(directory: Path, module_path: str, operation: str) -> CrashBundle:
    """Where the bundle of ``operation`` on ``module_path`` goes in ``directory``."""
    base = f"{_stem(Path(module_path).stem)}.{_stem(operation)}"
    return CrashBundle(directory / f"{base}.core.wasm", directory / f"{base}.json")


def core_frames(wasm: bytes, frames: tuple[TrapFrame, ...]) -> tuple[CoreFrame, ...]:
    """The coredump's frames for a trap's (inlined frames share one wasm frame: left out)."""
    symbolizer = symbolizer_for(wasm)
    out = []
    for frame in frames:
        if frame.inlined or frame.module_offset is None:
            continue
        position = symbolizer.code_position(frame.module_offset)
        if position is not None:
            out.append(CoreFrame(*position))
    return tuple(out)


def memory_of(guest: Guest | None) -> tuple[bytes | None, str | None]:
    """A trapped in-process guest's linear memory, or None and why it cannot be read.

    Read it before the guest's next call: that call rebuilds the instance.
    """
    memory = None if guest is None else guest.session.memory
    if memory is None:
        if guest is None:
            return None, "the guest ran in a supervised child process; its memory stayed there"
        return None, "the guest had no memory attached when it trapped"
    try:
        return memory.read(0, memory.size()), None
    except Exception as exc:  # an engine that drops a trapped instance's memory
        return None, f"the engine could not read the trapped guest's memory: {exc}"


def write_crash_bundle(
    directory: Path,
    *,
    module_path: str,
    wasm: bytes,
    operation: str,
    payload: bytes,
    engine: str,
    error: WapcError,
    recorder: ExchangeRecorder | None,
    memory: bytes | None,
    memory_note: str | None = None,
    force: bool = False,
) -> CrashBundle:
    """Write the bundle for a call that failed with ``error``; returns the two paths.

    ``memory``: the guest's linear memory when the trap happened (None when the
    host could not read it: ``memory_note`` says why; the coredump then has no
    memory). Raises ``UsageError`` when a file exists and ``force`` is false,
    or when the directory cannot be written.
    """
    paths = bundle_paths(directory, module_path, operation)
    frames = error.frames if isinstance(error, GuestTrap) else ()
    dump = CoreDump(
        executable=Path(module_path).name, modules=(Path(module_path).name,),
        frames=core_frames(wasm, frames), memory=memory,
    )
    record = exchange_record(
        paths, module_path=module_path, operation=operation, payload=payload, engine=engine,
        error=error, recorder=recorder, memory=memory, memory_note=memory_note,
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        core_fd = _claim(paths.core, force)
        try:
            handles = [core_fd, _claim(paths.record, force)]
        except BaseException:  # never leave half a bundle
            os.close(core_fd)
            paths.core.unlink()
            raise
    except OSError as exc:
        raise UsageError(f"crash bundle: cannot write into '{directory}': "
                         f"{exc.strerror or exc}") from None
    with os.fdopen(handles[0], "wb") as core:
        core.write(write_coredump(dump))
    with os.fdopen(handles[1], "w", encoding="utf-8") as out:
        out.write(json.dumps(record, indent=1) + "\n")
    return paths


def _claim(path: Path, force: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        return os.open(path, flags, 0o644)
    except FileExistsError:
        raise UsageError(
            f"crash bundle: '{path}' exists; it is not overwritten without force"
        ) from None


def exchange_record(
    paths: CrashBundle, *, module_path: str, operation: str, payload: bytes, engine: str,
    error: WapcError, recorder: ExchangeRecorder | None, memory: bytes | None,
    memory_note: str | None,
) -> dict[str, Any]:
    """The exchange as the JSON file records it (docs: README, "Crash bundles")."""
    frames = error.frames if isinstance(error, GuestTrap) else ()
    trapping = next((f for f in frames if not f.inlined), frames[0] if frames else None)
    request = None if recorder is None else recorder.request
    response = None if recorder is None else recorder.response
    guest_error = error.guest_error if isinstance(error, GuestTrap) else None
    if guest_error is None and recorder is not None:
        guest_error = recorder.guest_error
    return {
        "format": RECORD_FORMAT,
        "module": module_path,
        "operation": operation,
        "engine": engine,
        "payload": {"len": len(payload), "b64": base64.b64encode(payload).decode("ascii")},
        "error": error.to_json(),
        "trap": str(error),
        "trapping_function": None if trapping is None else trapping.function,
        "frames": [frame.to_json() for frame in frames],
        "guest_error": guest_error,
        "guest_response": None if response is None else {
            "ptr": response.ptr, "length": response.length,
        },
        "guest_request": None if request is None else {
            "op_ptr": request.op_ptr, "ptr": request.ptr, "op_len": request.op_len,
            "payload_len": request.payload_len,
        },
        "host_calls": [] if recorder is None else recorder.host_calls_json(),
        "host_call_count": 0 if recorder is None else recorder.host_call_count,
        "memory": {
            "captured": memory is not None,
            "size": None if memory is None else len(memory),
            "note": memory_note,
        },
        "coredump": paths.core.name,
    }
