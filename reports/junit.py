"""JUnit XML for CI: one `<testcase>` per run, so a nightly job fails loudly and names the bug.

A run is a passing test case when its verdict is the one expected (`valid`, unless the results
carry `"expect": "invalid"`, as a bug-hunting suite declares); an unexpected `invalid` is a
`<failure>` whose message names the anomaly (the key, the op, what the model expected); an
`unknown` verdict is an `<error>` (the test could not decide, which is not a pass either).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from raft_jepsen.harness.errors import UsageError

_MESSAGE_MAX = 400  # CI tools show the message attribute on one line; the full story is the body


def write_junit(results: list[dict], path: str | os.PathLike) -> Path:
    """Write one test suite with a test case per run's results (schema 1) to `path`."""
    path = Path(path)
    tree = ET.ElementTree(junit_element(results))
    ET.indent(tree)
    try:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as e:
        raise UsageError(f"{path}: cannot write JUnit XML ({e.strerror})") from None
    return path


def junit_element(results: list[dict]) -> ET.Element:
    suite = ET.Element("testsuite", name="raft-jepsen")
    failures = errors = 0
    total = 0.0
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"raft-jepsen.{r.get('test', 'run')}", name=case_name(r))
        seconds = float(r.get("duration_s") or 0)
        total += seconds
        case.set("time", f"{seconds:.3f}")
        expect = r.get("expect", "valid")
        valid = r.get("valid")
        if valid not in (True, False):
            errors += 1
            _child(case, "error", f"verdict unknown: {r.get('reason') or 'the checkers could not decide'}", "unknown")
        elif (valid is False) != (expect == "invalid"):
            failures += 1
            if valid is False:
                _child(case, "failure", anomaly(r), "invalid")
            else:
                _child(case, "failure", "expected this run to find a bug (expect: invalid), but every checker passed", "missed")
        ET.SubElement(case, "system-out").text = _run_lines(r)
    suite.set("tests", str(len(results)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("time", f"{total:.3f}")
    return suite


def case_name(r: dict) -> str:
    bugs = ",".join(r.get("bugs") or []) or "none"
    nemesis = ",".join(r.get("nemesis") or []) or "none"
    return f"{r.get('system', '?')} {r.get('workload', '?')} bugs={bugs} nemesis={nemesis} seed={r.get('seed', '?')}"


def anomaly(r: dict) -> str:
    """The first anomaly of the first invalid checker, in words."""
    for name, res in sorted((r.get("checkers") or {}).items()):
        if not isinstance(res, dict) or res.get("valid") is not False:
            continue
        failures = res.get("failures")
        if isinstance(failures, list) and failures and isinstance(failures[0], dict):
            return f"{name}: {_lin_anomaly(failures[0])}"
        detail = res.get("message") or res.get("error") or json.dumps({k: v for k, v in res.items() if k != "valid"}, default=str)
        return f"{name}: {detail}"
    return "invalid (no checker names the anomaly)"


def _lin_anomaly(f: dict) -> str:
    """`<the minimal explanation> (key k1, ops 40, 51, 57); op 57 (read → 3, process 4) cannot be
    linearized after op 51, where the model's state is 2 (<the checker's message>)`: the sentence
    first, so that it is what CI's one-line summary shows, then the search's story."""
    ops = {o.get("index"): o for o in f.get("ops") or [] if isinstance(o, dict)}
    stuck = f.get("stuck") or []
    linearized = f.get("linearized") or []
    text = f"key {f.get('key')}: "
    minimal = f.get("minimal") if isinstance(f.get("minimal"), list) else []
    if isinstance(f.get("explanation"), str):
        shown = ", ".join(map(str, minimal[:8])) + (f" and {len(minimal) - 8} more" if len(minimal) > 8 else "")
        text = f"{f['explanation']} (key {f.get('key')}, ops {shown}); "
    text += f"op {_describe(ops.get(stuck[0], {'index': stuck[0]}))} cannot be linearized" if stuck else "not linearizable"
    text += f" after op {linearized[-1]}" if linearized else " from the initial state"
    if f.get("state") is not None:
        text += f", where the model's state is {f['state']}"
    return f"{text} ({f['message']})" if f.get("message") else text


def _describe(op: dict) -> str:
    f = op.get("f")
    if f is None:
        return str(op.get("index"))
    shown = op.get("output") if f == "read" else op.get("value")
    return f"{op.get('index')} ({f} {'→ ' if f == 'read' else ''}{_json(shown)}, process {op.get('process')})"


def _json(v: Any) -> str:
    return json.dumps(v, default=str) if not isinstance(v, str) else v


def _run_lines(r: dict) -> str:
    run_dir = r.get("run_dir") or "?"
    expected = f" (expected {r['expect']})" if r.get("expect") else ""
    return "\n".join([f"verdict: {_verdict(r.get('valid'))}{expected}", f"run: {run_dir}",
                      f"report: {run_dir}/report.html", f"re-run: raft-jepsen run --config {run_dir}/test.yaml"])


def _child(case: ET.Element, tag: str, text: str, type_: str) -> None:
    """A failure or error: the message attribute is one line for CI's summary, the body in full."""
    ET.SubElement(case, tag, message=_cut(text), type=type_).text = text


def _cut(s: str) -> str:
    s = " ".join(s.split())
    return s if len(s) <= _MESSAGE_MAX else s[: _MESSAGE_MAX - 1] + "…"


def _verdict(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")
