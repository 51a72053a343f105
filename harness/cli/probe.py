"""`raft-jepsen probe HOST:PORT...`: check that a running node speaks the raft-jepsen client
protocol (docs/protocol.md) as the harness needs, and say in plain words what is wrong.

Exit code: 0 when nothing is wrong (notes only say what the node does not offer), 1 when a
mistake was found, 3 when the address is not one or nothing answers there."""

from __future__ import annotations

import argparse

from raft_jepsen.harness.clients.conformance import PROTOCOL_VERSION, TIMEOUT_S, probe
from raft_jepsen.harness.errors import EnvironmentProblem, UsageError

HELP = "check that a running node speaks the raft-jepsen client protocol"
EPILOG = """examples:
  raft-jepsen probe 127.0.0.1:8000
  raft-jepsen probe 127.0.0.1:8001 127.0.0.1:8002 127.0.0.1:8003   # commands go to whichever leads

exit codes: 0 conforms, 1 mistakes found, 3 bad address or nothing answers"""

MARKS = {"ok": "ok     ", "mistake": "MISTAKE", "note": "note   "}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("addresses", nargs="+", metavar="HOST:PORT", help="a node's client address (several: every node's)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="S",
                        help=f"seconds to wait for each reply (default: {TIMEOUT_S:g})")


def address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def main(args: argparse.Namespace) -> int:
    addrs = [address(a) for a in args.addresses]
    if not 0 < args.timeout < 3600:  # nan and inf too: a socket cannot wait for ever
        raise UsageError("--timeout must be a positive number of seconds, under an hour")
    print(f"probing {', '.join(args.addresses)} (raft-jepsen client protocol {PROTOCOL_VERSION}, docs/protocol.md)")
    try:
        findings = probe(addrs, timeout=args.timeout)
    except OSError as e:
        raise EnvironmentProblem(f"cannot connect to {args.addresses[0]}: {e.strerror or type(e).__name__}") from None
    for finding in findings:
        print(f"  {MARKS[finding.level]}  {finding.text}")
    mistakes = sum(1 for f in findings if f.level == "mistake")
    if mistakes:
        print(f"{mistakes} mistake{'s' if mistakes > 1 else ''}: the harness would misread this node (docs/protocol.md)")
        return 1
    print("no mistakes: the harness can test this node")
    return 0
