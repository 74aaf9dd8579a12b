"""What call, trace and bench share: turning options into a ready guest."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..engines.base import Limits
from ..errors import UsageError
from ..runtime.cache import ModuleCache, enabled_by_env
from ..runtime.guest import Guest, WapcModule, load_module
from ..runtime.hostcalls import HostCallHandler, no_handler
from ..runtime.limits import DEFAULT_TIMEOUT_S, build_limits
from ..runtime.payload import resolve_payload
from ..runtime.session import EventSink, LogSink
from ..runtime.wasi import WasiOptions

# Plain classes, not dataclasses: they are on the one-shot `wapc call` path (see
# the note in engines/base.py).


def _nothing() -> None:
    pass


class HostSetup:
    """The host-call handler for a run, and what to do once the run is over."""

    def __init__(
        self,
        handler: HostCallHandler = no_handler,
        finish: Callable[[], None] = _nothing,
        describe: str = "no host calls answered",
    ) -> None:
        self.handler = handler
        self.finish = finish
        self.describe = describe

    def with_handler(self, handler: HostCallHandler) -> HostSetup:
        """A copy (of the same class, with all its parts) answering with ``handler``."""
        import copy  # not at the top: trace alone needs it (~3 ms to import)

        other = copy.copy(self)
        other.handler = handler
        return other


class RunSpec:
    def __init__(
        self,
        module: Path,
        operation: str,
        payload: bytes,
        engine: str,
        limits: Limits,
        wasi: WasiOptions,
        host: HostSetup | None = None,
        cache: bool = True,
    ) -> None:
        self.module = module
        self.operation = operation
        self.payload = payload
        self.engine = engine
        self.limits = limits
        self.wasi = wasi
        self.host = host if host is not None else HostSetup()
        #: Reuse compiled artifacts from the user cache directory (``--no-cache`` off).
        self.cache = cache

    def with_host(self, host: HostSetup) -> RunSpec:
        """A copy of this spec with another host setup."""
        import copy

        other = copy.copy(self)
        other.host = host
        return other

    def load(self) -> WapcModule:
        return load_module(self.module, engine=self.engine, limits=self.limits,
                           cache=module_cache(self.cache))

    def instantiate(
        self, module: WapcModule, on_log: LogSink | None, tracer: EventSink | None = None
    ) -> Guest:
        return module.instantiate(self.host.handler, on_log=on_log, tracer=tracer, wasi=self.wasi)


def module_cache(wanted: bool) -> ModuleCache | None:
    """The compiled-module cache, unless ``--no-cache`` or ``WAPC_NO_CACHE=1``."""
    return ModuleCache() if wanted and enabled_by_env() else None


def wasi_options(module: Path, env: list[str] | None, args: list[str] | None,
                 dirs: list[str] | None) -> WasiOptions:
    granted: dict[str, str] = {}
    for item in env or ():
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f"--env: '{item}' needs a name (KEY=VALUE or KEY)")
        if not sep:
            if key not in os.environ:
                raise UsageError(f"--env: '{key}' is not set in this environment")
            value = os.environ[key]
        granted[key] = value
    preopens = []
    for item in dirs or ():
        host, _, guest = item.partition(":")
        if not Path(host).is_dir():
            raise UsageError(f"--dir: '{host}' is not a directory")
        preopens.append((host, guest or host))
    return WasiOptions(
        args=tuple(args or ()), env=granted, program_name=module.name, dirs=tuple(preopens)
    )


def host_setup(stubs: list[Path] | None, preset: str | None, record: Path | None,
               force: bool = False) -> HostSetup:
    if not stubs and not preset and not record:
        return HostSetup()
    from ..tools.stubs.host import build_host_setup

    return build_host_setup(stubs or [], preset, record, force)


def build_runspec(
    *,
    module: Path,
    operation: str,
    payload: str | None,
    payload_hex: str | None,
    payload_json: str | None,
    encode: str,
    engine: str,
    timeout: str | None,
    fuel: int | None,
    max_memory: str | None,
    env: list[str] | None,
    args: list[str] | None,
    dirs: list[str] | None,
    stubs: list[Path] | None,
    preset: str | None,
    record: Path | None,
    force: bool = False,
    default_timeout: float | None = DEFAULT_TIMEOUT_S,
    no_cache: bool = False,
) -> RunSpec:
    return RunSpec(
        module=module,
        operation=operation,
        payload=resolve_payload(payload, payload_hex, payload_json, encode),
        engine=engine,
        limits=build_limits(timeout, fuel, max_memory, default_timeout),
        wasi=wasi_options(module, env, args, dirs),
        host=host_setup(stubs, preset, record, force),
        cache=not no_cache,
    )
