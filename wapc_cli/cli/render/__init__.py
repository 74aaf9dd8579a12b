"""Trace renderers: sinks for the core's events (a Rich timeline, JSON lines)."""

from ...tools.trace import AbortedHostCall, RunInfo, TraceResult, TraceSink, TraceStats
from .trace_jsonl import JsonlSink, event_dict

__all__ = [
    "AbortedHostCall",
    "JsonlSink",
    "RunInfo",
    "TraceResult",
    "TraceSink",
    "TraceStats",
    "event_dict",
]
