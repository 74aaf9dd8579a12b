"""``wapc compat``: one exchange under every host profile and engine; exit 7 where they differ."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import ExitCode, UsageError
from ..runtime.profiles import LIBRARY_PROFILES, PROFILE_NAMES, HostProfile, get_profile
from ..tools.host_setup import HostSetup
from .options import run_command
from .run_options import RunOptions
from .runspec import build_runspec, module_cache

PARAMETERS = (
    "module", "operation", "payload", "payload_hex", "payload_json", "encode", "engine",
    "hosts", "stubs", "preset", "k8s_context", "timeout", "fuel", "max_memory", "env", "arg", "dir",
    "json_out", "no_cache",
)

HostsOpt = Annotated[list[str] | None, typer.Option(
    "--host", help=f"Compare these hosts (repeatable): any of {', '.join(PROFILE_NAMES)}. "
    f"Default: the libraries ({', '.join(p.name for p in LIBRARY_PROFILES)}).",
)]


def register(app: typer.Typer) -> None:
    command = run_command(compat, PARAMETERS, {"hosts": (HostsOpt, None)}, helps={
        "engine": "Engine to run on (default: every installed engine).",
    })
    app.command("compat")(command)


def compat(options: RunOptions, hosts: list[str] | None) -> None:
    """Run OPERATION under every host profile and engine: a table, and why they differ."""
    raise typer.Exit(compat_command(options, hosts))


def compat_command(options: RunOptions, hosts: list[str] | None = None) -> int:
    from ..engines import available_engines
    from ..runtime.guest import read_module_file
    from ..tools.compat import run_compat
    from .render import compat_view

    profiles = _profiles(hosts)
    spec = build_runspec(options)
    engines = available_engines() if options.engine == "auto" else [options.engine]
    cache = module_cache(spec.cache)

    def make_host(profile: HostProfile) -> HostSetup:
        preset = options.preset or profile.preset
        if not options.stubs and preset is None and options.k8s_context is None:
            return HostSetup()
        from ..tools.stubs.host import build_host_setup

        return build_host_setup(options.stubs or [], preset, None, engine=options.engine,
                                limits=spec.limits, cache=cache, module=options.module,
                                k8s_context=options.k8s_context,
                                profile=None if profile.is_default else profile)

    report = run_compat(
        read_module_file(options.module), name=str(options.module), operation=spec.operation,
        payload=spec.payload, engines=engines, make_host=make_host, profiles=profiles,
        limits=spec.limits, wasi=spec.wasi, cache=cache, timeout_given=options.timeout is not None,
    )
    if options.json_out:
        compat_view.write_json(report)
    else:
        compat_view.write_table(report)
    return int(ExitCode.OK if report.agree else ExitCode.HOSTS_DIVERGE)


def _profiles(hosts: list[str] | None) -> tuple[HostProfile, ...]:
    if not hosts:
        return LIBRARY_PROFILES
    chosen: list[HostProfile] = []
    for name in hosts:
        try:
            profile = get_profile(name)
        except UsageError as exc:
            raise UsageError(f"--host: {exc}") from None
        if profile not in chosen:
            chosen.append(profile)
    return tuple(chosen)
