"""``--junit FILE``: the verdicts as JUnit XML (via ``junitparser``), for CI dashboards.

One ``<testsuite>`` per suite file, one ``<testcase>`` per case and engine
(``name`` "case [engine]", ``classname`` the suite), a ``<failure>`` (or an
``<error>`` when the case could not run) holding the same text the console
shows. The failure text has every control character escaped already
(:mod:`.diffs`); names (a case's, a suite's path) are the user's own text and
may hold anything, so every string is passed through :func:`xml_text` too:
the XML is always well-formed.
"""

from __future__ import annotations

import re
from pathlib import Path

from junitparser import Error, Failure, JUnitXml, TestCase, TestSuite

from .model import TestReport

#: What XML 1.0 cannot hold at all, even as a character reference (controls but tab and
#: newline, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with each character XML cannot hold written as ``\\xNN`` / ``\\uNNNN``."""
    def escaped(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(escaped, text)


def junit_xml(report: TestReport) -> JUnitXml:
    xml = JUnitXml("wapc test")
    suites: dict[str, TestSuite] = {}
    for name in report.suites:
        suites[name] = TestSuite(xml_text(name))
    for result in report.results:
        suite = suites.setdefault(result.suite, TestSuite(xml_text(result.suite)))
        case = TestCase(xml_text(result.title), classname=xml_text(_classname(result.suite)),
                        time=round(result.duration_ms / 1000, 6))
        if result.status == "failed":
            case.result = [_result(Failure, result.failure)]
        elif result.status == "error":
            case.result = [_result(Error, result.failure)]
        suite.add_testcase(case)
    for suite in suites.values():
        suite.update_statistics()  # type: ignore[no-untyped-call]
        xml.add_testsuite(suite)
    xml.update_statistics()  # type: ignore[no-untyped-call]
    return xml


def _result(kind: type[Failure] | type[Error], text: str) -> Failure | Error:
    text = xml_text(text)
    element = kind(text.splitlines()[0] if text else "failed")
    element.text = text
    return element


def _classname(suite: str) -> str:
    """The suite's file name without ``.wapc.yaml``: CI tools group test cases by it."""
    name = Path(suite).name
    return name.removesuffix(".wapc.yaml").removesuffix(".yaml") or name


def write_junit(report: TestReport, path: Path) -> None:
    """Write the report (a file the user named: created or replaced, as with any output file)."""
    junit_xml(report).write(str(path), pretty=True)
