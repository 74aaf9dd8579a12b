"""What a WASI guest is granted: plain values, apart from the host that serves them.

Apart from :mod:`.wasi` so that every caller that passes options (the CLI, the
isolation messages, suites) can build them without loading the WASI host (its
descriptor table, streams and sandbox), which a guest that imports no WASI
function and is granted no directory never needs (:mod:`.wasi_choice`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple


class DirGrant(NamedTuple):
    """One ``--dir`` grant: a host directory, where the guest sees it, and whether
    the guest may change it (create, write, rename, delete). Read-only by default."""

    host: str
    guest: str
    writable: bool = False


class WasiOptions(NamedTuple):
    """What of the host a WASI guest may see. Empty by default: nothing."""

    args: Sequence[str] = ()
    # One empty dict shared by every default: typed (and only ever used) as a
    # read-only Mapping. (A MappingProxyType would not pickle to a supervised child.)
    env: Mapping[str, str] = {}
    program_name: str = "guest.wasm"
    #: Directory grants (a plain (host, guest) pair is a read-only grant).
    dirs: Sequence[DirGrant | tuple[str, str]] = ()

