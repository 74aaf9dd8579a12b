"""The waPC runtime: host-call types, checked guest memory, the session and the nine
imports, tracing, WASI, module loading, outcome classification, the guest lifecycle,
limits, the compiled-module cache. Engine-neutral: it talks to engines/ only through
the contract in engines/base.py. Never prints."""
