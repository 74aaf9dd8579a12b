"""Every message between a supervising parent and its child process, typed.

The parent sends one :class:`Job`, then answers each :class:`HostCall` with a
:class:`Reply` or an :class:`Abort`. The child sends :class:`Started` once the
module compiled, :class:`Calling` once it is instantiated (the guest call or
the benchmark begins; a WASI command is instantiated as it starts),
:class:`Log`, :class:`TraceEvent`, :class:`BenchProgress` and a command's
:class:`Output` as they happen, and ends with :class:`Finished` (the run's
result, a guest failure included) or :class:`Failed` (a bug of ours).

Messages are pickled over a socket pair (``multiprocessing.connection``):
only our own code in the child writes them, never the guest. They are
NamedTuples: immutable, and cheap to pickle on a path taken per host call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..engines.base import Limits
from ..runtime.hostcalls import HostCallHandler, HostCallRequest, HostReply
from ..runtime.wasi_options import WasiOptions

if TYPE_CHECKING:  # annotations only: the child imports this module before anything else
    from ..runtime.cache import ModuleCache
    from ..runtime.events import Event
    from ..runtime.measure import BenchResult

#: "call": load, instantiate, call once; "init": instantiate only (start section,
#: init exports); "bench": instantiate, then the measured benchmark loop;
#: "command": run a WASI command's ``_start`` (``wapc run``), relaying its output.
Mode = Literal["call", "init", "bench", "command"]

#: The most bytes of a command's output one :class:`Output` message carries: a
#: guest's single huge write crosses the pipe as several bounded messages.
OUTPUT_CHUNK = 64 * 1024

#: Room above the max-memory limit for the interpreter's own allocations (copies of
#: payloads, responses, trace events) before the data rlimit stops the child.
RLIMIT_MARGIN = 256 * 1024**2


# Job is a NamedTuple like every other message, and BenchPlan a plain class (a
# NamedTuple field may not be called ``count``): importing dataclasses (and
# defining these two with it) was a few ms of every supervised child's start.
class BenchPlan:
    """How much to measure in a supervised benchmark (see ``runtime.measure.measure_calls``).

    A value: compares, hashes and pickles by its fields; treat it as read-only.
    """

    __slots__ = ("compare_bare", "count", "duration", "warmup")

    def __init__(self, count: int | None = None, duration: float | None = None,
                 warmup: int = 1000, compare_bare: bool = False) -> None:
        self.count = count
        self.duration = duration
        self.warmup = warmup
        self.compare_bare = compare_bare

    def fields(self) -> tuple[int | None, float | None, int, bool]:
        return (self.count, self.duration, self.warmup, self.compare_bare)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BenchPlan) and self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.fields())

    def __repr__(self) -> str:
        return ("BenchPlan(count={!r}, duration={!r}, warmup={!r}, compare_bare={!r})"
                .format(*self.fields()))

    def __reduce__(self) -> tuple[type[BenchPlan], tuple[Any, ...]]:
        return (BenchPlan, self.fields())


class Job(NamedTuple):
    """Everything the child needs to run, sent first."""

    wasm: bytes
    name: str
    engine: str
    limits: Limits  # without the timeout: the parent enforces it on guest code
    wasi: WasiOptions
    operation: str
    payload: bytes
    trace: bool
    logs: bool
    rlimit_margin: int = RLIMIT_MARGIN
    mode: Mode = "call"
    #: A picklable handler to answer host calls in the child itself (a benchmark must
    #: not pay a round trip per host call); None relays every host call to the parent.
    handler: HostCallHandler | None = None
    bench: BenchPlan | None = None
    #: A command's standard input (mode "command"): all of it, read before the run.
    stdin: bytes = b""
    #: Send the guest's memory back when the call traps (a crash bundle wants it).
    keep_memory: bool = False
    #: The compiled-module cache the child compiles through (None: compile afresh).
    cache: ModuleCache | None = None
    #: The host profile the guest runs under (wapc_cli.runtime.profiles), by name.
    profile: str = "wapc"
    #: The timeout, for the child's own host waits (a WASI sleep, a host call's answer):
    #: they end with it and report it as in-process; the parent kills a child that
    #: outlasts it by :data:`~.parent.KILL_GRACE_S` (guest code it cannot stop). None: none.
    wait_budget_s: float | None = None


# -- parent -> child, answering a HostCall ---------------------------------------------
class Reply(NamedTuple):
    """The parent's handler answered the host call (bytes: a plain success)."""

    reply: HostReply | bytes


class Abort(NamedTuple):
    """The parent's handler stopped the run (a ``HostAbort``); the child traps the guest."""

    message: str


# -- child -> parent -------------------------------------------------------------------
class Started(NamedTuple):
    """The module compiled; the timeout clock starts now."""

    engine: str
    compile_ms: float


class Calling(NamedTuple):
    """Instantiation and init are done: the guest call (or the benchmark) begins."""


class Log(NamedTuple):
    message: str
    source: str


class TraceEvent(NamedTuple):
    event: Event


class BenchProgress(NamedTuple):
    done: int
    total: int | None


class Output(NamedTuple):
    """A command wrote ``data`` (at most :data:`OUTPUT_CHUNK` bytes) to ``fd`` 1 or 2."""

    fd: int
    data: bytes


class HostCall(NamedTuple):
    """The guest made a host call the parent answers; the child waits for the answer."""

    request: HostCallRequest


class Finished(NamedTuple):
    """The run ended, well or with a guest-side failure (``error``, as ``WapcError.to_json``)."""

    response: bytes | None = None
    error: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    host_calls: int = 0
    timings: dict[str, float] | None = None
    bench: BenchResult | None = None
    #: A command's exit status (mode "command"): proc_exit's code, or 0 when
    #: ``_start`` returned; None when it did not get to an end (``error``).
    exit_status: int | None = None
    #: The trapped guest's linear memory, when the job asked for it (``keep_memory``).
    memory: bytes | None = None


class Failed(NamedTuple):
    """The child failed in a way that is a bug of ours, not the guest's."""

    reason: str


ParentMessage = Job | Reply | Abort
ChildMessage = (
    Started | Calling | Log | TraceEvent | BenchProgress | Output | HostCall | Finished | Failed
)
