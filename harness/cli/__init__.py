"""The `raft-jepsen` command. Each subcommand lives in the module that owns its job; that module
exposes `HELP` (one line), `EPILOG` (examples, optional), `add_arguments(parser)` and
`main(args) -> exit code`. Errors the user can fix are one line on stderr and exit code 3.

Anything else that escapes a subcommand is a bug of ours, never a verdict: exit code 2 (unknown),
one line saying what failed and where the full traceback was saved (the run folder this process
was writing, else a file in the temp folder); `--debug` prints the traceback too. Exit code 1
(a bug found) can only come from a subcommand's own return value."""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import traceback

from raft_jepsen.harness import __version__, store
from raft_jepsen.harness.errors import RaftJepsenError, one_line
from raft_jepsen.harness.history.verdicts import EXIT_CODES

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
        print(f"{self.prog}: error: {one_line(message)}", file=sys.stderr)
        sys.exit(3)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="raft-jepsen",
        description="Jepsen-style fault injection and linearizability testing for Raft clusters.",
        epilog="Exit codes: 0 valid, 1 invalid (a bug was found), 2 unknown, 3 bad usage or environment.",
    )
    parser.add_argument("--version", action="version", version=f"raft-jepsen {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an unexpected error")
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
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
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
        print(f"raft-jepsen {args.command}: {one_line(str(e))}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"raft-jepsen {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except (Exception, RecursionError, MemoryError) as e:  # a bug of ours: unknown, never "bug found"
        return _crashed(args, e)


def _crashed(args: argparse.Namespace, error: BaseException) -> int:
    text = "".join(traceback.format_exception(error))
    saved = _save_traceback(text)
    what = one_line(f"{type(error).__name__}: {str(error)}".rstrip(": "))
    print(f"raft-jepsen {args.command}: internal error ({_short(what)}); "
          f"traceback saved to {saved} (--debug prints it); exit 2, the outcome is unknown", file=sys.stderr)
    if args.debug:
        print(text, file=sys.stderr, end="")
    return EXIT_CODES["unknown"]


def _save_traceback(text: str) -> str:
    """Into the run folder this process was writing (which then reads as unknown), else a
    temp file; where neither can be written, the traceback only goes to --debug."""
    try:
        run_dir = store.current_run_dir()
        if run_dir is not None:
            return str(store.record_crash(run_dir, text))
        with tempfile.NamedTemporaryFile("w", prefix="raft-jepsen-crash-", suffix=".txt", delete=False) as f:
            f.write(text)
            return f.name
    except OSError as e:
        return f"nowhere ({e.strerror})"


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

