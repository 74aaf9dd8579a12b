"""WebAssembly bytes, read without an engine: one bounded reader, the module parser,
and the byte rewrites (start function, memory caps). Imports nothing of ours but
errors/abi."""
