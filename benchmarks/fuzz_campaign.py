#!/usr/bin/env python3
"""A longer fuzz campaign than the test suite runs: same generators, many more cases.

Kinds of case, on every engine this Python can load:

* ``imports`` – the forwarding guest of ``tests/test_fuzz_imports.py`` called with
  random import indices and i32 arguments (biased to edge values), then a plain
  call that must work (the instance is rebuilt after a trap);
* ``modules`` – mutated copies of a small guest and random bytes, through
  ``wapc call`` and ``wapc inspect`` (CliRunner, in-process; wasmer's calls run in
  its supervised child);
* ``payloads``, ``stubs``, ``flags`` (together: ``--kind cli``) – the user's inputs to
  the CLI, from the hypothesis strategies of ``tests/test_fuzz_cli_inputs.py``:
  payloads in every form sent to an echo guest, stub tables through
  ``wapc stubs check`` and ``wapc call --stubs``, values of the limit flags. A
  failure is a case that broke one of that module's promises (exit code outside
  the README's table, a traceback, more than one error line, over the time
  limit, a wrong answer to a well-formed input); the first few are printed as
  command lines.

Cases run in worker processes, so a crash of the interpreter is counted, not
fatal. Printed figures: cases run, outcomes, crashes (a worker killed by a
signal), unclassified errors (any exception that is not the documented outcome),
hangs (a batch over its time budget), and time.

Usage::

    python benchmarks/fuzz_campaign.py                 # 2 minutes per engine and kind
    python benchmarks/fuzz_campaign.py --kind cli --minutes 1   # the CLI's inputs only
    python benchmarks/fuzz_campaign.py --minutes 10 --seed 7
    python benchmarks/fuzz_campaign.py --json figures.json
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent.parent / "tests"
CLI_KINDS = ("payloads", "stubs", "flags")
KINDS = ("imports", "modules", *CLI_KINDS)
BATCH = {"imports": 2000, "modules": 40, "payloads": 200, "stubs": 100, "flags": 200}
BATCH_TIMEOUT_S = {"imports": 300, "modules": 600, "payloads": 600, "stubs": 600, "flags": 600}


def worker(kind: str, engine: str, seed: int, count: int) -> dict[str, Any]:
    """Run ``count`` cases; return outcome counts and the first unclassified errors."""
    sys.path.insert(0, str(TESTS))
    if kind in CLI_KINDS:
        return cli_worker(kind, engine, seed, count)
    import tempfile

    import test_fuzz_imports as fz  # the generators the test suite uses

    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    unclassified: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "file.txt").write_text("granted")
        guest = fz.make_guest(engine, directory) if kind == "imports" else None
        for _ in range(count):
            try:
                if guest is not None:
                    index = rng.randrange(len(fz.TARGETS))
                    args = [_i32(rng, fz.INTERESTING) for _ in range(fz.ARGS)]
                    outcomes[fz.check_one(guest, index, args, _i32(rng, fz.INTERESTING))] += 1
                else:
                    data = (fz.mutate(fz.SEED, rng) if rng.random() < 0.8
                            else rng.choice([b"", b"\0asm", b"\0asm\1\0\0\0"])
                            + rng.randbytes(rng.randrange(200)))
                    called, inspected = fz.check_module(data, engine, directory)
                    outcomes[f"call exit {called}"] += 1
                    outcomes[f"inspect exit {inspected}"] += 1
            except Exception:
                outcomes["unclassified"] += 1
                if len(unclassified) < 5:
                    unclassified.append(traceback.format_exc(limit=4))
    return {"outcomes": dict(outcomes), "unclassified": unclassified}


def cli_worker(kind: str, engine: str, seed: int, count: int) -> dict[str, Any]:
    """Run ``count`` hypothesis examples of one CLI-input kind; count exits and failures.

    Failures are recorded, not raised, so hypothesis neither stops nor shrinks:
    the campaign wants how many, the test suite wants the smallest.
    """
    import tempfile

    import hypothesis
    import test_fuzz_cli_inputs as cli  # the generators the test suite uses
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = cli.scratch(Path(tmp))

        def record(ran_cases: list[tuple[Any, Any]]) -> None:
            for case, ran in ran_cases:
                outcomes[f"{case.argv[0]} exit {ran.exit_code}"] += 1
                if ran.known:  # reported already: counted apart, one sample each
                    outcomes[f"known defect {ran.known}"] += 1
                    if outcomes[f"known defect {ran.known}"] == 1:
                        failures.append("known: " + cli.report(case, ran))
                elif ran.problems:
                    outcomes["unclassified"] += 1
                    if len(failures) < 5:
                        failures.append(cli.report(case, ran))

        if kind == "stubs":
            strategy = st.tuples(cli.stub_files(), cli.STUB_PAYLOADS)

            def one(drawn: tuple[bytes, str]) -> None:
                check, called = cli.run_stub_table(drawn[0], drawn[1], directory,
                                                   engine=engine)
                record([check, called])
        else:
            strategy = cli.payload_cases() if kind == "payloads" else cli.flag_cases()

            def one(drawn: Any) -> None:
                case = cli.with_engine(drawn, engine)
                record([(case, cli.run_cli(case, directory))])

        run = settings(max_examples=count, deadline=None, database=None,
                       phases=[Phase.generate], suppress_health_check=list(HealthCheck))(
            hypothesis.seed(seed)(given(strategy)(one)))
        run()
    return {"outcomes": dict(outcomes), "unclassified": failures}


def _i32(rng: random.Random, interesting: list[int]) -> int:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(interesting)
    if roll < 0.7:
        return rng.randrange(70000)  # inside the guest's page: past the bounds checks
    return rng.randrange(-(2**31), 2**31)


def campaign(minutes: float, seed: int, engines: list[str], kinds: list[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for engine in engines:
        for kind in kinds:
            started = time.monotonic()
            stop = started + minutes * 60
            totals: Counter[str] = Counter()
            crashes = hangs = batches = 0
            samples: list[str] = []
            while time.monotonic() < stop:
                batch_seed = seed * 1_000_003 + batches
                batches += 1
                command = [sys.executable, __file__, "--worker", kind, engine, str(batch_seed),
                           str(BATCH[kind])]
                try:
                    done = subprocess.run(command, capture_output=True, text=True,
                                          timeout=BATCH_TIMEOUT_S[kind])
                except subprocess.TimeoutExpired:
                    hangs += 1
                    continue
                if done.returncode != 0:
                    crashes += 1
                    samples.append(f"seed {batch_seed}: exit {done.returncode}: "
                                   f"{done.stderr.strip()[-500:]}")
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                totals.update(result["outcomes"])
                seen = {sample.split("\n")[0] for sample in samples}
                samples += [s for s in result["unclassified"] if s.split("\n")[0] not in seen]
            if kind in CLI_KINDS:  # one `call` per case (a stub table is checked first)
                cases = sum(v for k, v in totals.items() if k.startswith("call exit"))
            else:
                cases = sum(v for k, v in totals.items() if not k.startswith("inspect"))
            figures[f"{engine}/{kind}"] = {
                "cases": cases, "outcomes": dict(sorted(totals.items())),
                "exit_codes": sorted({int(k.rsplit(" ", 1)[1]) for k in totals
                                      if " exit " in k}),
                "crashes": crashes, "hangs": hangs,
                "unclassified": totals.get("unclassified", 0),
                "seconds": round(time.monotonic() - started, 1), "samples": samples[:5],
            }
            row = figures[f"{engine}/{kind}"]
            print(f"{engine:9} {kind:8} cases {row['cases']:7}  crashes {crashes}  hangs {hangs}"
                  f"  unclassified {row['unclassified']}  exit codes {row['exit_codes']}"
                  f"  {row['seconds']}s  {json.dumps(row['outcomes'])}", flush=True)
            for sample in samples[:3]:
                print("   ", sample.replace("\n", "\n    "))
    return figures


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, engine, seed, count = sys.argv[2:6]
        print(json.dumps(worker(kind, engine, int(seed), int(count))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="per engine and kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", action="append", help="default: every loadable engine")
    parser.add_argument("--kind", action="append", choices=[*KINDS, "cli"],
                        help="repeatable; cli = payloads, stubs and flags "
                             "(default: imports and modules)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    from wapc_cli.engines import available_engines

    kinds = [k for kind in options.kind or ["imports", "modules"]
             for k in (CLI_KINDS if kind == "cli" else (kind,))]
    figures = campaign(options.minutes, options.seed, options.engine or available_engines(), kinds)
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))
    bad = sum(row["crashes"] + row["hangs"] + row["unclassified"] for row in figures.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
