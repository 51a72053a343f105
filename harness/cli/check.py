"""`raft-jepsen check`: check a recorded history for linearizability and explain the verdict."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from raft_jepsen.checkers.linearizable import DEFAULT_TIMEOUT_S, LinearizabilityChecker
from raft_jepsen.checkers.models import MODELS, get_model
from raft_jepsen.harness.errors import UsageError, one_line
from raft_jepsen.harness.history import verdicts
from raft_jepsen.harness.history.importers import FORMATS, guess_format, load
from raft_jepsen.harness.history.source import ReadDeadline

HELP = "check a history file for linearizability"
EPILOG = """examples:
  raft-jepsen check store/latest/history.jsonl
  raft-jepsen check history.edn --model cas-register --timeout 30
  raft-jepsen check tests/data/porcupine/jepsen/etcd_040.log --format porcupine-etcd

The format is guessed from the extension or the first line, the model from the format
(porcupine-etcd: etcd, porcupine-kv: string-kv, jsonl and edn: cas-register).
Reading the file counts toward --timeout. A history with no operation to check (empty, or only
records the model ignores) is unknown, exit 2: nothing was tested. A last line cut off while it was
written (a killed run) is left out, with a warning.
Exit codes: 0 linearizable, 1 not linearizable, 2 unknown (deadline, nothing to check), 3 bad input."""

MODEL_FOR_FORMAT = {"porcupine-etcd": "etcd", "porcupine-kv": "string-kv", "jsonl": "cas-register", "edn": "cas-register"}
_SHOWN_STUCK = 5  # ops listed per failing key; --json has them all
_SHOWN_MINIMAL = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="history: .jsonl (ours), .edn (Jepsen), or a Porcupine log")
    p.add_argument("--model", choices=sorted(MODELS), help="sequential specification (default: from the format)")
    p.add_argument("--format", choices=FORMATS, help="history format (default: guessed)")
    p.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"give up with 'unknown' after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
    p.add_argument("--json", action="store_true", help="print the full result as JSON")


def main(args: argparse.Namespace) -> int:
    if not math.isfinite(args.timeout) or args.timeout <= 0:  # nan would switch the deadline off
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    start = time.monotonic()
    fmt = args.format or guess_format(args.file)
    model = get_model(args.model or MODEL_FOR_FORMAT[fmt])

    def warn(message: str) -> None:
        print(f"warning: {one_line(message)}", file=sys.stderr)

    try:  # reading counts toward the deadline: a huge file gives up like a hard search
        history = load(args.file, fmt, deadline=start + args.timeout, warn=warn)
    except ReadDeadline as e:
        print(f"unknown: {one_line(str(e))} (--timeout {args.timeout:g} s)")
        return verdicts.exit_code("unknown")
    remaining = max(args.timeout - (time.monotonic() - start), 0.0)
    result = LinearizabilityChecker(model, remaining).check(history)
    if result["op_count"] == 0:  # nothing was checked: never a pass CI could mistake for a test
        print(f"unknown: 0 operations to check in {one_line(args.file)} ({len(history)} records read, none that "
              f"the {model.name} model checks)" if history else f"unknown: 0 operations: {one_line(args.file)} is empty")
        return verdicts.exit_code("unknown")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(render(result))
    return verdicts.exit_code(result["valid"])


def render(result: dict) -> str:
    """The verdict and a short human explanation of each failure."""
    verdict = {True: "linearizable", False: "NOT linearizable", "unknown": "unknown"}[result["valid"]]
    lines = [
        f"{verdict} ({result['model']} model, {result['op_count']} ops in {result['partitions']} "
        f"partition{'s' if result['partitions'] != 1 else ''}, {result['elapsed_s']:.2f} s)"
    ]
    for failure in result["failures"]:
        by_index = {op["index"]: op for op in failure["ops"]}
        key = "" if failure["key"] is None else f"key {failure['key']!r}: "
        if failure.get("explanation"):  # the minimal explanation first, then the search's own story
            proven = "minimal" if failure.get("minimal_proven") else "not proven minimal"
            lines.append(f"  {key}{failure['explanation']}")
            kept = failure["minimal"]
            shown = ", ".join(map(str, kept[:_SHOWN_MINIMAL])) + (" ..." if len(kept) > _SHOWN_MINIMAL else "")
            lines.append(f"    {len(kept)} of the key's {len(failure['ops'])} ops ({proven}): "
                         f"op{'s' if len(kept) > 1 else ''} {shown}")
            lines.append(f"    the search: {failure['message']}")
        else:
            lines.append(f"  {key}{failure['message']}")
        lines.append(
            f"    longest linearizable prefix: {len(failure['linearized'])} of {len(failure['ops'])} ops, "
            f"state after it: {failure['state']}"
        )
        for i in failure["stuck"][:_SHOWN_STUCK]:
            op = by_index[i]
            returned = "never returned" if op["return"] is None else f"returned at {op['return']}"
            lines.append(
                f"    could not go next: op {i}: process {op['process']} {op['f']} {json.dumps(op['value'])}"
                f" → {op['type']} {json.dumps(op['output'])}, called at {op['call']}, {returned}"
            )
        if len(failure["stuck"]) > _SHOWN_STUCK:
            lines.append(f"    ... and {len(failure['stuck']) - _SHOWN_STUCK} more (--json shows all)")
    for unknown in result["unknown"]:
        key = "" if unknown["key"] is None else f"key {unknown['key']!r}: "
        lines.append(f"  {key}unknown: {unknown['reason']}")
    return "\n".join(lines)
