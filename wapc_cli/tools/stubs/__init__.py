"""Stub tables: YAML that answers a guest's host calls (see docs/stubs.md).

Importing this package stays cheap: the CLI loads it only when ``--stubs``,
``--preset`` or ``--record`` is given.
"""

from .handler import StubHandler
from .loader import check_stub_file, load_stub_file
from .model import Answer, Body, PayloadTest, Rule, StubTable
from .source import Problem, StubTableError

__all__ = [
    "Answer",
    "Body",
    "PayloadTest",
    "Problem",
    "Rule",
    "StubHandler",
    "StubTable",
    "StubTableError",
    "check_stub_file",
    "load_stub_file",
]
