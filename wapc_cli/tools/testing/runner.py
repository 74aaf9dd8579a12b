"""Run one case on one engine through the runtime API ``wapc call`` uses: a typed outcome.

The case's host calls are answered by its stub tables (and preset), exactly as
``--stubs`` answers them, and every call is kept in order for ``host_calls:``.
Cases of one module on one engine with the same limits share one compiled
module (:class:`ModulePool`, over the compiled-module cache); each case gets a
fresh instance. A run that must be supervised (an engine that cannot stop a
guest, such as wasmer: a timeout must still end the case) goes through
:func:`wapc_cli.isolation.run_supervised`, as ``wapc call`` does.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...engines.base import Limits
from ...errors import GuestError, GuestTrap, LimitExceeded, StubFailure, WapcError
from ...runtime.cache import ModuleCache, enabled_by_env
from ...runtime.guest import WapcModule, read_module_file
from ...runtime.hostcalls import HostCallHandler, HostCallRequest, HostReply
from ...runtime.limits import needs_supervision
from ...runtime.profiles import get_profile
from ..stubs.host import host_setup_from_tables
from .model import Case, CaseOutcome, HostCall, Suite, case_slug

#: How many log lines and host calls a case keeps (a guest can make them in a loop until
#: its timeout); the rest are counted, not kept.
MAX_KEPT = 10_000
#: How a limit is named in an error (``LimitExceeded.limit``) -> in ``expect: {limit:}``.
_LIMIT_NAMES = {"timeout": "timeout", "fuel": "fuel", "max-memory": "memory"}


class ModulePool:
    """The compiled modules of this process, by (file, engine, limits)."""

    def __init__(self, use_cache: bool = True) -> None:
        self.cache = _usable_cache() if use_cache else None
        self._modules: dict[tuple[str, str, Limits], WapcModule] = {}
        self._bytes: dict[str, bytes] = {}
        self.compiled = 0  # how many modules this pool compiled (or loaded from the cache)

    def wasm(self, path: Path) -> bytes:
        key = str(path)
        if key not in self._bytes:
            self._bytes[key] = read_module_file(path)
        return self._bytes[key]

    def module(self, path: Path, engine: str, limits: Limits) -> WapcModule:
        key = (str(path), engine, limits)
        module = self._modules.get(key)
        if module is None:
            module = WapcModule.from_bytes(self.wasm(path), engine=engine, limits=limits,
                                           name=str(path), cache=self.cache)
            self._modules[key] = module
            self.compiled += 1
        return module


def _usable_cache() -> ModuleCache | None:
    """The compiled-module cache, unless disabled or unsafe (as for ``wapc call``)."""
    if not enabled_by_env():
        return None
    cache = ModuleCache()
    return cache if cache.problem() is None else None


class _CallLog:
    """Wraps the handler: every host call, in order, for ``expect: {host_calls:}``."""

    def __init__(self, inner: HostCallHandler) -> None:
        self.inner = inner
        self.calls: list[HostCall] = []
        self.count = 0

    def __call__(self, request: HostCallRequest) -> bytes | HostReply:
        self.count += 1
        if len(self.calls) < MAX_KEPT:
            self.calls.append(
                HostCall(request.binding, request.namespace, request.operation, request.payload)
            )
        return self.inner(request)


def record_path(directory: Path, suite: Suite, case: Case) -> Path:
    """Where ``--record DIR`` writes a case's host calls: ``DIR/<suite>/<case>.stubs.yaml``."""
    stem, slug = case_slug(suite, case)
    return directory / stem / f"{slug}.stubs.yaml"


def run_case(
    suite: Suite, case: Case, engine: str, pool: ModulePool, *,
    record_dir: Path | None = None, force: bool = False, core_dir: Path | None = None,
) -> CaseOutcome:
    """Run ``case`` on ``engine``; every failure of the guest is kept in the outcome.

    A failure of the setup (the engine cannot load here, the module is not a
    guest) is the outcome's ``setup_error``: the case errs, the others still run.
    ``core_dir``: the exchange is recorded, and a case that failed with a trap
    leaves a crash bundle there (:mod:`.core_bundles`; ``force`` replaces one).
    """
    recorded = None
    try:
        record = None
        if record_dir is not None:
            record = record_path(record_dir, suite, case)
            record.parent.mkdir(parents=True, exist_ok=True)
            recorded = str(record)
        # The same host as --stubs/--preset/--record: the suite's tables, then the case's.
        profile = get_profile(case.host)
        preset = case.preset or profile.preset  # a platform brings its own
        host = host_setup_from_tables(case.stubs, preset, record, force, engine=engine,
                                      limits=case.limits, cache=pool.cache,
                                      profile=None if profile.is_default else profile)
    except (WapcError, OSError) as exc:
        return CaseOutcome(engine, setup_error=f"cannot set up the host: {exc}")
    # The host may hold backend connections (a Tarmac --sql/--kvstore server, Redis):
    # each case's are released when it ends, not when the process does.
    try:
        calls = _CallLog(host.handler)
        logs: list[str] = []

        def on_log(message: str, source: str) -> None:
            if len(logs) < MAX_KEPT:
                logs.append(message)

        recorder = None
        if core_dir is not None:  # only then: a traced call leaves the plain one's hot path
            from ..crash import ExchangeRecorder

            recorder = ExchangeRecorder()
        host.attach(recorder, on_log)
        wasi = case.wasi._replace(program_name=suite.module.name)
        response: bytes | None = None
        error: WapcError | None = None
        guest = None
        trapped_memory: bytes | None = None
        started = time.perf_counter()
        try:
            if needs_supervision(engine, case.limits):
                from ...isolation import run_supervised

                result = run_supervised(
                    pool.wasm(suite.module), operation=case.operation, payload=case.payload,
                    name=str(suite.module), engine=engine, limits=case.limits, wasi=wasi,
                    host_call=calls, on_log=on_log, profile=case.host, tracer=recorder,
                    keep_memory=recorder is not None,
                )
                response, error, trapped_memory = result.response, result.error, result.memory
                case_failure = GuestError | GuestTrap | StubFailure
                if error is not None and not isinstance(error, case_failure):
                    return CaseOutcome(engine, setup_error=str(error))
            else:
                module = pool.module(suite.module, engine, case.limits)
                guest = module.instantiate(calls, on_log=on_log, wasi=wasi, profile=case.host,
                                           tracer=recorder)
                response = guest.call(case.operation, case.payload)
        except (GuestError, GuestTrap, StubFailure) as exc:
            error = exc
        except WapcError as exc:  # the engine, the module: not this case's guest behaviour
            return CaseOutcome(engine, setup_error=str(exc))
        duration_ms = (time.perf_counter() - started) * 1000
        try:
            host.finish()  # writes the recording, then checks the stubs' times: expectations
        except StubFailure as exc:
            error = error or exc
        except (WapcError, OSError) as exc:
            return CaseOutcome(engine, setup_error=f"cannot record: {exc}")
        outcome = CaseOutcome(
            engine=engine,
            response=response if error is None else None,
            error_kind=error.kind if error is not None else None,
            error_text=str(error) if error is not None else "",
            exit_code=int(error.exit_code) if error is not None else 0,
            limit=_LIMIT_NAMES.get(error.limit, error.limit)
            if isinstance(error, LimitExceeded) else None,
            logs=tuple(logs),
            host_calls=tuple(calls.calls),
            host_call_count=calls.count,
            duration_ms=duration_ms,
            recorded=recorded,
        )
        if core_dir is None or recorder is None:
            return outcome
        from ..crash import memory_of
        from .core_bundles import bundle_if_failed

        note = None
        if trapped_memory is None:
            if guest is None and not needs_supervision(engine, case.limits):
                note = "the guest trapped before its instance was ready: no memory to read"
            else:
                trapped_memory, note = memory_of(guest)
        return bundle_if_failed(core_dir, suite, case, outcome, error=error,
                                wasm=pool.wasm(suite.module), recorder=recorder,
                                memory=trapped_memory, memory_note=note, force=force)
    finally:
        host.close()
