"""The ``wapc`` process: the console script and ``python -m wapc_cli`` both start here.

Why a module of its own: the first thing a one-shot process does is set its
garbage-collection thresholds (:func:`main`), and that has to happen before the
command line's modules load, which the entry module (:mod:`.cli.entry`) imports.
"""

import gc


def main() -> None:
    """Collect cyclic garbage in larger batches for this process, then run the command line.

    Importing the CLI and the engine and compiling a module allocate many objects
    that all live until exit, so the default thresholds run collection after
    collection that find nothing to free (~1 ms of a one-shot ``wapc call``, more
    on the typer path). A larger first threshold keeps memory bounded (a
    collection still runs every so many allocations) without that waste.
    """
    gc.set_threshold(50_000, 10, 10)
    from .cli.entry import main as run_command_line

    run_command_line()


if __name__ == "__main__":
    main()
