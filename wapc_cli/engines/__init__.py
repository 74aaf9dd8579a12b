"""Engine selection. Runtimes are imported lazily: ``wapc --help`` loads none.

The registry also declares each adapter's :class:`Capabilities`, so a caller can
ask what an engine can do by name (:func:`declared_capabilities`) without
importing its runtime; each adapter's ``capabilities`` says the same (tested).
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import NamedTuple

from ..errors import EngineUnavailable
from .base import Capabilities, CompiledModule, Engine, EngineInstance, EngineTrap, Limits

__all__ = [
    "ENGINE_NAMES",
    "Capabilities",
    "CompiledModule",
    "Engine",
    "EngineInstance",
    "EngineTrap",
    "Limits",
    "available_engines",
    "declared_capabilities",
    "get_engine",
]


class _Adapter(NamedTuple):
    module: str
    class_name: str
    capabilities: Capabilities


#: Engine name -> its adapter. Order is the preference of ``auto``.
_ADAPTERS = {
    "wasmtime": _Adapter(
        "wapc_cli.engines.wasmtime_engine", "WasmtimeEngine",
        Capabilities(interrupts=True, limits_memory=True, meters_fuel=True),
    ),
    "wasmer": _Adapter(
        "wapc_cli.engines.wasmer_engine", "WasmerEngine",
        Capabilities(interrupts=False, limits_memory=False, meters_fuel=False),
    ),
}
ENGINE_NAMES = ("auto", *_ADAPTERS)


def declared_capabilities(name: str) -> Capabilities:
    """What engine ``name`` can do, without loading it.

    ``auto`` loads engines until one works (as :func:`get_engine` does) and
    answers for that one. An unknown name raises ``EngineUnavailable``.
    """
    if name == "auto":
        name = get_engine("auto").name
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        raise EngineUnavailable(
            f"unknown engine '{name}' (choose from: {', '.join(ENGINE_NAMES)})"
        )
    return adapter.capabilities


@cache
def _load(name: str) -> Engine:
    module_name, class_name, _ = _ADAPTERS[name]
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
