"""``--preset tarmac``: the host calls a Tarmac server answers, answered as Tarmac answers them.

Tarmac's callback router (``pkg/callbacks/callbacks.go``) looks a call up by
namespace and operation; what it has not registered fails with ``callback not
found`` and no body, an empty namespace or operation with ``namespace and op
cannot be nil``. The capabilities registered (``pkg/app/app.go``): kvstore,
sql, httpclient, logger, metrics, and ``function:NAME`` for each function
route. Only binding ``tarmac`` is answered here; any other binding is not
Tarmac's (:meth:`TarmacPreset.answer` returns None, and a stub table's
default applies). Backends are opened when the preset is built, so a bad DSN
or an unreachable server stops the run before the guest starts
(:class:`~wapc_cli.errors.UsageError`, the DSN shown without its password).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from ...runtime.hostcalls import HostCallError, HostCallRequest, HostReply
from .httpclient import HTTPClient
from .kv_backends import KVBackend, KVError, open_kvstore
from .kvstore import KVStore
from .observe import Logger, LogSink, Metrics
from .options import TarmacOptions
from .sql import SQL
from .sql_backends import SQLBackend, open_sql
from .wire import SOURCE, failed

BINDING = "tarmac"
NOT_FOUND = "callback not found"  # callbacks.ErrNotFound
#: At most this many keys in the summary (a Redis store can hold millions).
MAX_SUMMARY_KEYS = 1000


class TarmacPreset:
    """One run's Tarmac host: its stores, its log lines and metrics, its functions."""

    def __init__(
        self,
        options: TarmacOptions | None = None,
        seed: Mapping[str, bytes] | None = None,
        call_function: Callable[[str, bytes], bytes] | None = None,
    ) -> None:
        self.options = options or TarmacOptions()
        self.call_function = call_function
        self._kv_backend: KVBackend = open_kvstore(self.options.kvstore, seed)
        try:
            self._sql_backend: SQLBackend = open_sql(self.options.sql)
        except BaseException:
            self._kv_backend.close()
            raise
        self.kvstore = KVStore(self._kv_backend)
        self.sql = SQL(self._sql_backend)
        self.httpclient = HTTPClient(self.options.allow_http)
        self.metrics = Metrics()
        self.logger = Logger()
        self._closed = False

    @property
    def log_sink(self) -> LogSink | None:
        return self.logger.sink

    @log_sink.setter
    def log_sink(self, sink: LogSink | None) -> None:
        """Where ``logger`` lines go as they happen (the CLI's ``[guest ...]`` lines)."""
        self.logger.sink = sink

    def answer(self, request: HostCallRequest) -> HostReply | None:
        """The preset's answer, or None when the call is not Tarmac's to answer."""
        if request.binding != BINDING:
            return None
        namespace, operation, payload = request.namespace, request.operation, request.payload
        if not namespace or not operation:
            return failed("namespace and op cannot be nil")
        if namespace == "kvstore":
            return self.kvstore.answer(operation, payload)
        if namespace == "sql":
            return self.sql.answer(operation, payload)
        if namespace == "logger":
            return self.logger.answer(operation, payload)
        if namespace == "metrics":
            return self.metrics.answer(operation, payload)
        if namespace == "httpclient":
            return self.httpclient.answer(operation, payload)
        if namespace == "function":
            return self._function(operation, payload)
        return failed(NOT_FOUND)

    def _function(self, name: str, payload: bytes) -> HostReply:
        """``function:NAME``: the ``handler`` of another function (Tarmac's ``runWASM``)."""
        if self.call_function is None:
            return failed(f"no function '{name}' is configured")
        try:
            body = self.call_function(name, payload)
        except HostCallError as exc:
            return HostReply(exc.body, exc.message, SOURCE)
        return HostReply(body, None, SOURCE)

    def summary(self) -> dict[str, Any]:
        """What the trace summary shows: the store's keys, log lines, metric values."""
        try:
            keys = list(self._kv_backend.keys() or [])
        except KVError:
            keys = []
        metrics = self.metrics
        return {
            "kvstore_keys": keys[:MAX_SUMMARY_KEYS],
            "kvstore_key_count": len(keys),
            "logs": [{"level": level, "message": text} for level, text in self.logger.lines],
            "logs_dropped": self.logger.dropped,
            "counters": dict(metrics.counters),
            "gauges": dict(metrics.gauges),
            "histograms": {name: list(values) for name, values in metrics.histograms.items()},
            "histogram_counts": dict(metrics.observations),
            "backends": {"kvstore": _shown(self.options.kvstore, "in-memory"),
                         "sql": _shown(self.options.sql, "in-memory SQLite")},
        }

    def close(self) -> None:
        """Release the backends (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for backend in (self._kv_backend, self._sql_backend):
            with contextlib.suppress(Exception):  # best effort: the run is over either way
                backend.close()


def _shown(dsn: str | None, default: str) -> str:
    from .dsn import describe_dsn

    return default if not dsn else describe_dsn(dsn)
