"""How each command's results look: one module per kind of output.

``call_output`` (a call's response, ``--json`` and errors), ``trace_rich`` and
``trace_jsonl`` (the trace views), ``inspect_view`` (the inspect report),
``bench_view`` (bench results and progress) and ``stubs_view``. Importing this
package loads none of them: ``call`` needs only ``call_output``, and the fast
path of ``wapc call`` must not pay for the others.
"""
