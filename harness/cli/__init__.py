"""The `raft-jepsen` command. Each subcommand lives in the module that owns its job; that module
exposes `HELP` (one line), `EPILOG` (examples, optional), `add_arguments(parser)` and
`main(args) -> exit code`. Errors the user can fix are one line on stderr and exit code 3."""

from __future__ import annotations

import argparse
import importlib
import sys

from raft_jepsen.harness import __version__
from raft_jepsen.harness.errors import RaftJepsenError

# name -> module; order is the order of --help.
COMMANDS = {
    "run": "raft_jepsen.harness.cli.run",
    "check": "raft_jepsen.harness.cli.check",
    "report": "raft_jepsen.harness.cli.report",
    "serve": "raft_jepsen.harness.cli.serve",
    "suite": "raft_jepsen.harness.cli.suite",
    "probe": "raft_jepsen.harness.cli.probe",
    "image": "raft_jepsen.harness.cli.image",
    "clean": "raft_jepsen.harness.cli.clean",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit code is 2, ours for usage is 3
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(3)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="raft-jepsen",
        description="Jepsen-style fault injection and linearizability testing for Raft clusters.",
        epilog="Exit codes: 0 valid, 1 invalid (a bug was found), 2 unknown, 3 bad usage or environment.",
    )
    parser.add_argument("--version", action="version", version=f"raft-jepsen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog=getattr(module, "EPILOG", None),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_main", None):
        parser.print_help()
        return 3
    try:
        return int(args._main(args) or 0)
    except RaftJepsenError as e:
        print(f"raft-jepsen {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"raft-jepsen {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

