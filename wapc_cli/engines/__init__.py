"""Engine selection. Runtimes are imported lazily: ``wapc --help`` loads none."""

from __future__ import annotations

import importlib
from functools import cache

from ..errors import EngineUnavailable
from .base import CompiledModule, Engine, EngineInstance, EngineTrap, Limits

__all__ = [
    "ENGINE_NAMES",
    "CompiledModule",
    "Engine",
    "EngineInstance",
    "EngineTrap",
    "Limits",
    "available_engines",
    "get_engine",
]

#: Engine name -> (adapter module, class). Order is the preference of ``auto``.
_ADAPTERS = {
    "wasmtime": ("wapc_cli.engines.wasmtime_engine", "WasmtimeEngine"),
    "wasmer": ("wapc_cli.engines.wasmer_engine", "WasmerEngine"),
}
ENGINE_NAMES = ("auto", *_ADAPTERS)


@cache
def _load(name: str) -> Engine:
    module_name, class_name = _ADAPTERS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = " (wasmer's wheels exist only for CPython <= 3.10)" if name == "wasmer" else ""
        raise EngineUnavailable(
            f"engine '{name}' cannot be loaded in this Python: {exc}{hint}"
        ) from None
    engine: Engine = getattr(module, class_name)()
    return engine


def get_engine(name: str = "auto") -> Engine:
    if name == "auto":
        errors = []
        for candidate in _ADAPTERS:
            try:
                return _load(candidate)
            except EngineUnavailable as exc:
                errors.append(str(exc))
        raise EngineUnavailable("no engine can be loaded: " + "; ".join(errors))
    if name not in _ADAPTERS:
        raise EngineUnavailable(
            f"unknown engine '{name}' (choose from: {', '.join(ENGINE_NAMES)})"
        )
    return _load(name)


def available_engines() -> list[str]:
    names = []
    for name in _ADAPTERS:
        try:
            _load(name)
        except EngineUnavailable:
            continue
        names.append(name)
    return names
