"""The command-line layer: parses argv, calls the tools, prints (the only layer that does).

Commands (``call``, ``trace``, ``inspect``, ``bench``, ``stubs``) parse their
options and hand the results to a renderer in :mod:`.render`; everything is
written through :data:`.console.terminal`. typer and rich are imported here
only, and only when a command needs them (the fast path of ``wapc call`` in
:mod:`.entry` uses neither).
"""
