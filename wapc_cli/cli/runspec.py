"""What call, trace and bench share: turning options into a ready guest."""

from __future__ import annotations

import os
from pathlib import Path

from ..engines.base import Limits
from ..errors import UsageError
from ..runtime.cache import ModuleCache, enabled_by_env
from ..runtime.guest import Guest, WapcModule, load_module
from ..runtime.limits import DEFAULT_TIMEOUT_S
from ..runtime.payload import resolve_payload
from ..runtime.session import EventSink, LogSink
from ..runtime.wasi import WasiOptions
from ..tools.host_setup import HostSetup
from .limits import build_limits
from .run_options import RunOptions
from .safe_text import one_line

# A plain class, not a dataclass: it is on the one-shot `wapc call` path (see
# the note in engines/base.py).


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
        import copy  # not at the top: only trace needs it, and the call path does not

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
    """The compiled-module cache, unless ``--no-cache`` or ``WAPC_NO_CACHE=1``.

    A cache directory others could write to is not used, with one warning
    per process (see :meth:`ModuleCache.problem`).
    """
    if not (wanted and enabled_by_env()):
        return None
    cache = ModuleCache()
    problem = cache.problem()
    if problem is None:
        return cache
    if problem not in _CACHE_PROBLEMS_SHOWN:
        _CACHE_PROBLEMS_SHOWN.add(problem)
        from .console import terminal

        terminal.warning_line(f"not using the compiled-module cache: {problem}")
    return None


_CACHE_PROBLEMS_SHOWN: set[str] = set()


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
    preopens = [dir_grant(item) for item in dirs or ()]
    return WasiOptions(
        args=tuple(args or ()), env=granted, program_name=module.name, dirs=tuple(preopens)
    )


def checked_operation(operation: str) -> str:
    """The operation name, refused (exit 2) when it is not UTF-8 text.

    waPC operation names are UTF-8 strings (every SDK matches them as text);
    an argument that was not valid UTF-8 reaches Python with lone surrogates
    in its place (``surrogateescape``), and is refused rather than sent as
    bytes no guest could have registered.
    """
    try:
        operation.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"operation '{one_line(operation)}' is not valid UTF-8 (waPC operation names are text)"
        ) from None
    return operation


def dir_grant(item: str) -> tuple[str, str]:
    """``--dir HOST[:GUEST]`` as (host directory, the path the guest sees it at).

    The value splits at its last ``:`` only when what follows is an absolute
    guest path (it starts with ``/``); otherwise the whole value is the host
    directory, seen by the guest under the same name. So a host path with a
    ``:`` in it is named as it is (``--dir a:b``), or with a guest path
    (``--dir a:b:/data``). An empty host path is refused: it would grant the
    working directory without naming it.
    """
    host, sep, guest = item.rpartition(":")
    if not sep or not guest.startswith("/"):
        host, guest = item, ""
    shown = one_line(item)
    if not host:
        raise UsageError(f"--dir: '{shown}' names no host directory (HOST_DIR[:/GUEST_DIR])")
    if not Path(host).is_dir():
        hint = ""
        if ":" in item and not guest:
            hint = " (a GUEST_DIR after ':' must be absolute, e.g. data:/data)"
        raise UsageError(f"--dir: '{one_line(host)}' is not a directory{hint}")
    return host, guest or host


def host_setup(stubs: list[Path] | None, preset: str | None, record: Path | None,
               force: bool = False) -> HostSetup:
    if not stubs and not preset and not record:
        return HostSetup()
    from ..tools.stubs.host import build_host_setup

    return build_host_setup(stubs or [], preset, record, force)


def build_runspec(
    options: RunOptions, *, default_timeout: float | None = DEFAULT_TIMEOUT_S
) -> RunSpec:
    """The run ``options`` describe; a bad option raises :class:`~wapc_cli.errors.UsageError`."""
    module = options.module
    return RunSpec(
        module=module,
        operation=checked_operation(options.operation),
        payload=resolve_payload(
            options.payload, options.payload_hex, options.payload_json, options.encode
        ),
        engine=options.engine,
        limits=build_limits(options.timeout, options.fuel, options.max_memory, default_timeout),
        wasi=wasi_options(module, options.env, options.arg, options.dir),
        host=host_setup(options.stubs, options.preset, options.record, options.force),
        cache=not options.no_cache,
    )
