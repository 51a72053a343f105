"""`raft-jepsen report`: render a run folder's report.html again (after an upgrade of raft-jepsen,
or for a run whose report was never written because the run was killed after its checkers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from raft_jepsen.reports.html import write_report

HELP = "regenerate a run's report.html from its folder"
EPILOG = """examples:
  raft-jepsen report store/raftkv-register/20261123T150211
  raft-jepsen report store/latest"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", type=Path,
                   help="a run folder (with results.json and history.jsonl), or a store (its latest run)")


def main(args: argparse.Namespace) -> int:
    run_dir = args.run_dir
    if (run_dir / "latest").is_symlink():
        run_dir = run_dir / "latest"
    print(write_report(run_dir))
    return 0
