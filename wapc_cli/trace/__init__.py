"""Trace renderers: sinks for the core's events (a Rich timeline, JSON lines)."""

from .jsonl import JsonlSink, event_dict
from .sink import AbortedHostCall, RunInfo, TraceResult, TraceSink, TraceStats

__all__ = [
    "AbortedHostCall",
    "JsonlSink",
    "RunInfo",
    "TraceResult",
    "TraceSink",
    "TraceStats",
    "event_dict",
]
