"""``wapc compat`` as a tool: one exchange under every host profile and engine; where they differ.

Each (profile, engine) pair runs the same operation with the same payload, a
fresh host (stub tables, preset) and the same limits, in a fresh instance.
Runs are compared by what an embedder would act on: success and the
response's bytes, or the kind of failure and the guest's own error (a host's
wrapping, such as wapc-rs's ``Guest call failure:`` prefix, is not a
difference). Each run that differs from the reference (the spec, ``wapc``, on
the first engine) is explained by the deviations its profile noted (one line
each, naming the host behaviour), or, when none did, by the engine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..engines.base import Limits
from ..errors import ExitCode, GuestError, GuestTrap, LimitExceeded, WapcError
from ..runtime.cache import ModuleCache
from ..runtime.events import Event
from ..runtime.guest import WapcModule
from ..runtime.limits import needs_supervision
from ..runtime.profiles import LIBRARY_PROFILES, HostProfile
from ..runtime.wasi_options import WasiOptions
from .host_setup import HostSetup

#: Makes the host of one run (fresh stub state each time) for a profile.
HostFactory = Callable[[HostProfile], HostSetup]


@dataclass
class CompatRun:
    """One exchange under one profile on one engine."""

    profile: str
    label: str
    engine: str
    outcome: str  # "ok" | "guest_error" | "trap" | "limit" | "stub_failure" | ...
    exit_code: int
    response: bytes | None = None
    error: str | None = None  # as the host reports it
    guest_error: str | None = None  # the guest's own error text, when it set one
    deviations: tuple[str, ...] = ()

    @property
    def digest(self) -> str | None:
        """SHA-256 of the response (hex, first 16 digits), when there is one."""
        if self.response is None:
            return None
        return hashlib.sha256(self.response).hexdigest()[:16]

    @property
    def key(self) -> tuple[str, str]:
        """What is compared: the outcome, and the response's digest or the failure's essence."""
        if self.response is not None:
            return (self.outcome, hashlib.sha256(self.response).hexdigest())
        if self.outcome in ("trap", "limit"):
            return (self.outcome, "")  # every host words a trap its own way
        return (self.outcome, self.guest_error or self.error or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile, "host": self.label, "engine": self.engine,
            "outcome": self.outcome, "exit_code": self.exit_code,
            "response_len": None if self.response is None else len(self.response),
            "response_sha256": None if self.response is None
            else hashlib.sha256(self.response).hexdigest(),
            "error": self.error, "guest_error": self.guest_error,
            "deviations": list(self.deviations),
        }


@dataclass
class Divergence:
    """Runs that differ from the reference in the same way, and why."""

    profile: str
    label: str
    engines: tuple[str, ...]
    got: str  # what these runs gave, in a few words
    expected: str  # what the reference gave
    because: str  # the host behaviour (or the engine) that caused it

    def line(self) -> str:
        return f"{self.label} on {', '.join(self.engines)}: {self.got} instead of " \
               f"{self.expected}, because {self.because}"

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "host": self.label, "engines": list(self.engines),
                "got": self.got, "expected": self.expected, "because": self.because}


@dataclass
class CompatReport:
    module: str
    operation: str
    runs: list[CompatRun] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return len({run.key for run in self.runs}) <= 1

    def to_json(self) -> dict[str, Any]:
        return {"module": self.module, "operation": self.operation, "agree": self.agree,
                "results": [run.to_json() for run in self.runs],
                "divergences": [d.to_json() for d in self.divergences]}


def summary(run: CompatRun) -> str:
    """A run's outcome in a few words (the table's and the divergence lines')."""
    if run.response is not None:
        text = run.response.decode("utf-8", "replace")
        if len(run.response) <= 40 and text.isprintable():
            return f"ok {text!r}"
        return f"ok, {len(run.response)} B response {run.digest}"
    text = run.guest_error if run.guest_error is not None else run.error or ""
    short = text if len(text) <= 60 else text[:57] + "..."
    return f"{run.outcome} {short!r}" if short else run.outcome


def profile_limits(limits: Limits, profile: HostProfile, timeout_given: bool) -> Limits:
    """The limits a run under ``profile`` keeps: the platform's own time limit per call
    (Kubewarden's policy-server: 2 s), as ``wapc call --host`` uses, unless ``--timeout``
    was given."""
    if timeout_given or profile.default_timeout_s is None:
        return limits
    return limits._replace(timeout_s=profile.default_timeout_s)


def run_compat(
    wasm: bytes, *, name: str, operation: str, payload: bytes, engines: Sequence[str],
    make_host: HostFactory, profiles: Sequence[HostProfile] = LIBRARY_PROFILES,
    limits: Limits | None = None, wasi: WasiOptions | None = None,
    cache: ModuleCache | None = None, timeout_given: bool = True,
) -> CompatReport:
    """Run the exchange under each profile on each engine; compare; explain.

    ``timeout_given`` False: ``limits.timeout_s`` is wapc's default, and a profile
    with a time limit of its own (:func:`profile_limits`) runs under that one.
    """
    limits = limits or Limits()
    report = CompatReport(name, operation)
    for engine in engines:
        modules: dict[Limits, WapcModule] = {}  # one per distinct limits: they are the module's
        for profile in profiles:
            own = profile_limits(limits, profile, timeout_given)
            module = modules.get(own)
            if module is None and not needs_supervision(engine, own):
                module = modules[own] = WapcModule.from_bytes(
                    wasm, engine=engine, limits=own, name=name, cache=cache)
            report.runs.append(_one_run(wasm, module, name, engine, profile, operation, payload,
                                        make_host(profile), own, wasi or WasiOptions(),
                                        cache, platform_timeout=own != limits))
    report.divergences = explain(report.runs)
    return report


def _one_run(
    wasm: bytes, module: WapcModule | None, name: str, engine: str, profile: HostProfile,
    operation: str, payload: bytes, host: HostSetup, limits: Limits, wasi: WasiOptions,
    cache: ModuleCache | None, platform_timeout: bool = False,
) -> CompatRun:
    deviations: dict[str, None] = {}

    def tracer(event: Event) -> None:
        if event.deviation is not None and len(deviations) < 64:
            deviations[event.deviation] = None

    host.attach(None, None)
    response: bytes | None = None
    error: WapcError | None = None
    if module is None:  # an engine that must be supervised to keep the limits
        from ..isolation import run_supervised

        outcome = run_supervised(wasm, operation=operation, payload=payload, name=name,
                                 engine=engine, limits=limits, wasi=wasi,
                                 host_call=host.handler, tracer=tracer, cache=cache,
                                 profile=profile.name)
        response, error = outcome.response, outcome.error
        if error is not None and error.exit_code in (ExitCode.USAGE, ExitCode.NOT_A_GUEST):
            raise error  # not a guest's behaviour: as loading it here would have said
    else:
        try:
            guest = module.instantiate(host.handler, tracer=tracer, wasi=wasi, profile=profile)
            response = guest.call(operation, payload)
        except WapcError as exc:
            error = exc
    try:
        host.finish()
    except WapcError as exc:
        error = error or exc
    finally:
        host.close()  # each run's backend connections, not the process's
    run = CompatRun(profile.name, profile.label, engine, "ok", 0, response,
                    deviations=tuple(deviations))
    if error is not None:
        run.response = None
        run.outcome, run.exit_code, run.error = error.kind, int(error.exit_code), str(error)
        if platform_timeout and isinstance(error, LimitExceeded) and error.limit == "timeout":
            source = profile.sources.get("default_timeout_s", "the platform")
            run.deviations += (f"{profile.label} stops a call after {limits.timeout_s:g}s "
                               f"by default ({source})",)
        if isinstance(error, GuestError) and error.raw:
            run.guest_error = error.raw.decode("utf-8", "replace")
        elif isinstance(error, GuestTrap) and error.guest_error is not None:
            run.guest_error = error.guest_error
    return run


def explain(runs: Sequence[CompatRun]) -> list[Divergence]:
    """One entry per group of runs that differ from the reference in the same way."""
    if not runs:
        return []
    reference = next((r for r in runs if r.profile == "wapc"), runs[0])
    groups: dict[tuple[str, tuple[str, str], tuple[str, ...]], list[CompatRun]] = {}
    for run in runs:
        if run.key != reference.key:
            groups.setdefault((run.profile, run.key, run.deviations), []).append(run)
    found = []
    for (profile, _, deviations), members in groups.items():
        first = members[0]
        if deviations:
            because = "; ".join(deviations)
        else:
            same = [r for r in runs if r.profile == profile and r.key == reference.key]
            because = (f"the engines differ ({', '.join(r.engine for r in same)} agree with "
                       "the spec)" if same else "of no host rule this profile records "
                       "(the same guest code ran differently)")
        found.append(Divergence(profile, first.label, tuple(r.engine for r in members),
                                summary(first), summary(reference), because))
    return found
