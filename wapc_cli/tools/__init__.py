"""The tools built on the runtime: inspect, bench, stub tables and presets, the trace
sink. Each returns data for the CLI (or a library user) to show; none prints."""
