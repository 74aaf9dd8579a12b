"""Two optional C extensions for the wasmtime hot path; everything else is in pyproject.toml.

``optional=True``: where no C compiler (or no Python headers) is at hand the
build goes on without them, and wapc takes the same path through ctypes
(slower, same behaviour). See docs/performance.md, "Native crossings".
"""

from setuptools import Extension, setup

FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

setup(
    ext_modules=[
        Extension(
            "wapc_cli.engines.wasmtime_calls",
            ["wapc_cli/engines/wasmtime_calls.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
        Extension(
            "wapc_cli.runtime.native_exchange",
            ["wapc_cli/runtime/native_exchange.c"],
            extra_compile_args=FLAGS,
            optional=True,
        ),
    ],
)
