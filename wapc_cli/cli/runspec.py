"""What call, trace and bench share: turning options into a ready guest."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..engines.base import Limits
from ..errors import UsageError
from ..runtime.cache import ModuleCache, enabled_by_env
from ..runtime.guest import Guest, WapcModule, load_module
from ..runtime.limits import DEFAULT_TIMEOUT_S
from ..runtime.payload import resolve_payload
from ..runtime.session import EventSink, LogSink
from ..runtime.wasi_options import DirGrant, WasiOptions
from ..tools.host_setup import HostSetup
from .limits import build_limits
from .run_options import RunOptions
from .safe_text import one_line

if TYPE_CHECKING:
    from ..runtime.profiles import HostProfile
    from ..tools.tarmac.options import TarmacOptions

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
        profile: HostProfile | None = None,
        settings: bytes | None = None,
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
        #: The host profile the guest runs under (``--host``; None: the default, wapc).
        self.profile = profile
        #: ``--admission-request``: the settings ``validate_settings`` checks first, as
        #: policy-server does (None: no check).
        self.settings = settings

    @property
    def profile_name(self) -> str:
        """The host profile's name, as a supervised child is told it."""
        return "wapc" if self.profile is None else self.profile.name

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
        self.host.attach(tracer, on_log)  # host code that runs guests itself logs there too
        return module.instantiate(self.host.handler, on_log=on_log, tracer=tracer, wasi=self.wasi,
                                  profile=self.profile)


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
        granted[_wasi_text(key, "--env")] = _wasi_text(value, f"--env {one_line(key)}")
    preopens = [dir_grant(item) for item in dirs or ()]
    return WasiOptions(
        args=tuple(_wasi_text(arg, "a guest argument") for arg in args or ()), env=granted,
        # argv[0]: the file's name as text (a name that is not UTF-8 with U+FFFD for its bytes)
        program_name=os.fsencode(module.name).decode("utf-8", "replace"), dirs=tuple(preopens),
    )


def _wasi_text(value: str, what: str) -> str:
    """``value`` when it is UTF-8 text, as WASI's arguments and environment are.

    An argument that was not valid UTF-8 reaches Python with lone surrogates in
    its place (``surrogateescape``); it is refused (exit 2) rather than handed
    over as bytes the guest would read as text.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what}: '{one_line(value)}' is not valid UTF-8") from None
    return value


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


#: The mode suffixes of ``--dir``: whether the guest may change the directory.
_DIR_MODES = {"ro": False, "rw": True}
_DIR_SYNTAX = "HOST_DIR[:/GUEST_DIR][:ro|:rw]"


def dir_grant(item: str) -> DirGrant:
    """``--dir HOST[:GUEST][:ro|:rw]`` as a :class:`DirGrant` (read-only unless ``:rw``).

    A trailing ``:ro`` or ``:rw`` is always the mode, and comes off first.
    What is left splits at its last ``:`` only when what follows is an
    absolute guest path (it starts with ``/``); otherwise the whole of it is
    the host directory, seen by the guest under the same name. So a host path
    with a ``:`` in it is named as it is (``--dir a:b``), or with a guest path
    (``--dir a:b:/data``); one that ends in ``:ro``/``:rw`` itself is named
    with its mode (``--dir x:rw:ro``) or a guest path. An empty host path is
    refused: it would grant the working directory without naming it.
    """
    rest, writable = item, False
    head, sep, mode = item.rpartition(":")
    if sep and mode in _DIR_MODES:
        rest, writable = head, _DIR_MODES[mode]
    host, sep, guest = rest.rpartition(":")
    if not sep or not guest.startswith("/"):
        host, guest = rest, ""
    shown = one_line(item)
    if not host:
        raise UsageError(f"--dir: '{shown}' names no host directory ({_DIR_SYNTAX})")
    if not Path(host).is_dir():
        hint = ""
        if ":" in rest and not guest:
            last = rest.rpartition(":")[2]
            if last in _DIR_MODES:
                hint = " (one mode, at the end: HOST_DIR[:/GUEST_DIR]:ro or :rw)"
            elif last.lower() in _DIR_MODES:
                hint = f" (the mode after ':' is ro or rw, not '{one_line(last)}')"
            else:
                hint = " (a GUEST_DIR after ':' must be absolute, e.g. data:/data)"
        raise UsageError(f"--dir: '{one_line(host)}' is not a directory{hint}")
    seen_as = guest or host
    try:
        seen_as.encode("utf-8")
    except UnicodeEncodeError:  # WASI paths are text: the guest could not even name it
        raise UsageError(f"--dir: the guest path '{one_line(seen_as)}' is not valid UTF-8 "
                         "(give the grant a GUEST_DIR, e.g. HOST_DIR:/data)") from None
    return DirGrant(host, seen_as, writable)


def host_setup(stubs: list[Path] | None, preset: str | None, record: Path | None,
               force: bool = False, tarmac: TarmacOptions | None = None, *,
               engine: str = "auto", limits: Limits | None = None,
               cache: bool = True, k8s_context: Path | None = None,
               record_format: str = "stubs", module: Path | None = None,
               profile: HostProfile | None = None) -> HostSetup:
    if record_format not in ("stubs", "kwctl"):
        raise UsageError(f"--record-format: expected stubs or kwctl, got "
                         f"'{one_line(record_format)}'")
    if not stubs and not preset and not record and tarmac is None and k8s_context is None:
        return HostSetup()
    from ..tools.stubs.host import build_host_setup

    setup = build_host_setup(stubs or [], preset, record, force, tarmac=tarmac, engine=engine,
                             limits=limits, cache=module_cache(cache), k8s_context=k8s_context,
                             record_format=record_format, module=module, profile=profile)
    if setup.notes:
        from .console import terminal

        for note in setup.notes:
            terminal.note_line(note)
    return setup


def tarmac_options(options: RunOptions) -> TarmacOptions | None:
    """The Tarmac flags (``--sql`` ... ``--tarmac-config``) as options; None when none is given.

    Any of them means the tarmac preset (there is no other that could use them).
    """
    if (options.sql is None and options.kvstore is None and not options.allow_http
            and not options.function and options.tarmac_config is None):
        return None
    from ..tools.tarmac.config import parse_function_grant
    from ..tools.tarmac.http import check_grant
    from ..tools.tarmac.options import TarmacOptions

    for flag, dsn in (("--sql", options.sql), ("--kvstore", options.kvstore)):
        if dsn is not None and not dsn.strip():
            raise UsageError(f"{flag}: expected a DSN (e.g. sqlite:///data.db), got ''")
    grants = []
    for item in options.allow_http or ():
        try:
            grants.append(check_grant(item))
        except ValueError as exc:
            raise UsageError(f"--allow-http: {one_line(str(exc))}") from None
    functions: dict[str, Path] = {}
    for item in options.function or ():
        try:
            name, path = parse_function_grant(item)
        except UsageError as exc:
            raise UsageError(f"--function: {one_line(str(exc))}") from None
        functions[name] = path
    config = options.tarmac_config
    if config is not None and not config.is_file():
        what = "no such file" if not config.exists() else "not a file"
        raise UsageError(f"--tarmac-config: '{one_line(str(config))}': {what}")
    return TarmacOptions(sql=options.sql, kvstore=options.kvstore, allow_http=tuple(grants),
                         functions=functions, config=config)


def build_runspec(
    options: RunOptions, *, default_timeout: float | None = DEFAULT_TIMEOUT_S
) -> RunSpec:
    """The run ``options`` describe; a bad option raises :class:`~wapc_cli.errors.UsageError`."""
    module = options.module
    profile = host_profile(options)
    if profile is not None and profile.default_timeout_s is not None:
        default_timeout = profile.default_timeout_s  # the platform's own (Kubewarden: 2 s)
    limits = build_limits(options.timeout, options.fuel, options.max_memory, default_timeout)
    operation = checked_operation(options.operation)
    payload, settings = _payload(options)
    return RunSpec(
        module=module,
        operation=operation,
        payload=payload,
        engine=options.engine,
        limits=limits,
        wasi=wasi_options(module, options.env, options.arg, options.dir),
        host=host_setup(options.stubs, _preset(options, profile), options.record, options.force,
                        tarmac_options(options), engine=options.engine, limits=limits,
                        cache=not options.no_cache,
                        k8s_context=options.k8s_context,
                        record_format=options.record_format, module=module,
                        profile=profile),
        cache=not options.no_cache,
        profile=profile,
        settings=settings if operation != "validate_settings" else None,
    )


def host_profile(options: RunOptions) -> HostProfile | None:
    """``--host`` as a profile; None for the default (which applies nothing)."""
    if options.host == "wapc":  # the default: not even the profiles load
        return None
    from ..runtime.profiles import get_profile

    try:
        profile = get_profile(options.host)
    except UsageError as exc:
        raise UsageError(f"--host: {exc}") from None
    if profile.preset is not None and options.preset not in (None, profile.preset):
        raise UsageError(f"--host {profile.name} answers host calls with --preset "
                         f"{profile.preset}; it cannot be combined with --preset "
                         f"{one_line(options.preset or '')}")
    return None if profile.is_default else profile


def _payload(options: RunOptions) -> tuple[bytes, bytes | None]:
    """The request payload: the payload flags, or kwctl's ``validate`` payload built from
    ``--admission-request`` (and ``--settings``), then the settings to check first."""
    request = options.admission_request
    settings = options.settings
    if request is None:
        if settings is not None:
            raise UsageError("--settings goes with --admission-request")
        return resolve_payload(options.payload, options.payload_hex, options.payload_json,
                               options.encode), None
    if options.payload is not None or options.payload_hex is not None \
            or options.payload_json is not None:
        raise UsageError("--admission-request builds the payload: give no --payload, "
                         "--payload-hex or --payload-json with it")
    from ..tools.kubewarden.admission import kwctl_payloads

    return kwctl_payloads(request, settings)


def _preset(options: RunOptions, profile: HostProfile | None = None) -> str | None:
    """``--preset``; an admission request alone means a Kubewarden run, and a platform's
    ``--host`` (tarmac, kubewarden) its own preset."""
    preset = options.preset
    if preset is None and profile is not None and profile.preset is not None:
        preset = profile.preset
    if preset is None and options.admission_request is not None:
        preset = "kubewarden"
    if preset is not None and preset != "kubewarden":
        for flag, value in (("--admission-request", options.admission_request),
                            ("--k8s-context", options.k8s_context)):
            if value is not None:  # only the kubewarden preset reads them
                raise UsageError(f"{flag} is for the kubewarden preset; it cannot be "
                                 f"combined with the {one_line(preset)} preset")
    return preset
