"""Shared fixtures: the engines to run on, and inline-WAT guest helpers.

``engine_name`` runs a test once per engine that can load in this Python. An
engine that SHOULD load here but cannot is a failure, never a skip: wasmer under
CPython 3.10 (its wheels exist only there), wasmtime always (the default engine),
and any engine named in ``WAPC_REQUIRE_ENGINES`` (comma/space separated), so CI
cannot pass while quietly testing fewer engines than it thinks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wapc_cli.engines import ENGINE_NAMES, available_engines, get_engine
from wapc_cli.engines.base import Limits
from wapc_cli.errors import EngineUnavailable
from wapc_cli.runtime.guest import Guest, WapcModule

AVAILABLE_ENGINES: list[str] = available_engines()

#: All nine waPC imports, as WAT, named $guest_request ... $console_log.
WAPC_IMPORTS = """
  (import "wapc" "__guest_request" (func $guest_request (param i32 i32)))
  (import "wapc" "__guest_response" (func $guest_response (param i32 i32)))
  (import "wapc" "__guest_error" (func $guest_error (param i32 i32)))
  (import "wapc" "__host_call"
    (func $host_call (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wapc" "__host_response_len" (func $host_response_len (result i32)))
  (import "wapc" "__host_response" (func $host_response (param i32)))
  (import "wapc" "__host_error_len" (func $host_error_len (result i32)))
  (import "wapc" "__host_error" (func $host_error (param i32)))
  (import "wapc" "__console_log" (func $console_log (param i32 i32)))
"""


def required_engines() -> set[str]:
    required = {"wasmtime"}
    if sys.version_info[:2] == (3, 10):
        required.add("wasmer")
    listed = os.environ.get("WAPC_REQUIRE_ENGINES", "").replace(",", " ").split()
    required.update(listed)
    return required


def _engine_params() -> list[str]:
    wanted = set(AVAILABLE_ENGINES) | required_engines()
    known = [name for name in ENGINE_NAMES if name != "auto" and name in wanted]
    return known + sorted(wanted - set(known))


ENGINE_PARAMS = _engine_params()


def require_engine(name: str) -> str:
    """Return ``name`` if it loads; fail the test (not skip) when it cannot."""
    if name in AVAILABLE_ENGINES:
        return name
    try:
        get_engine(name)
    except EngineUnavailable as exc:
        reason = str(exc)
    else:  # pragma: no cover - loads now but did not at collection
        return name
    pytest.fail(
        f"engine '{name}' is required here (Python {sys.version_info[0]}.{sys.version_info[1]}, "
        f"WAPC_REQUIRE_ENGINES={os.environ.get('WAPC_REQUIRE_ENGINES', '')!r}) "
        f"but cannot load: {reason}"
    )


@pytest.fixture(params=ENGINE_PARAMS)
def engine_name(request: pytest.FixtureRequest) -> str:
    return require_engine(str(request.param))


@pytest.fixture
def all_engines() -> list[str]:
    """Every engine that must run here (for cross-engine comparisons)."""
    return [require_engine(name) for name in ENGINE_PARAMS]


#: What the sandbox trees keep outside their grant (secret.txt), never to be shown.
SANDBOX_SECRET = "host secret: do not show"


def granted_tree(root: Path) -> Path:
    """``root/granted/`` (hello.txt, sub/inner.txt) next to ``root/secret.txt``, for the
    sandbox tests to add their own symlinks to; returns granted/."""
    granted = root / "granted"
    (granted / "sub").mkdir(parents=True)
    (granted / "hello.txt").write_text("hello from the grant")
    (granted / "sub" / "inner.txt").write_text("inner")
    (root / "secret.txt").write_text(SANDBOX_SECRET)
    return granted


def wat(text: str) -> bytes:
    """Compile WebAssembly text to a binary module."""
    return bytes(wasmtime.wat2wasm(text))


def module_from_wat(text: str, engine: str, limits: Limits | None = None) -> WapcModule:
    return WapcModule.from_bytes(wat(text), engine=engine, limits=limits, name="<wat>")


def guest_from_wat(text: str, engine: str, **kw: Any) -> Guest:
    """Compile, check and instantiate an inline WAT guest.

    ``limits`` goes to the module; everything else (host_call, on_log, tracer,
    wasi) to :meth:`WapcModule.instantiate`.
    """
    limits = kw.pop("limits", None)
    return module_from_wat(text, engine, limits).instantiate(**kw)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out, visibly (as deselected, not skipped), tests this Python cannot run.

    ``cross_engine`` tests compare engines and need two; ``wasmer`` tests need
    wasmer. Both run in the CPython 3.10 pass of scripts/test, where the engine
    fixture makes wasmer mandatory.
    """
    engines = set(ENGINE_PARAMS)

    def runnable(item: pytest.Item) -> bool:
        if item.get_closest_marker("cross_engine") and len(engines) < 2:
            return False
        return not (item.get_closest_marker("wasmer") and "wasmer" not in engines)

    keep = [item for item in items if runnable(item)]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if not runnable(item)])
        items[:] = keep
