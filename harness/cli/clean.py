"""`raft-jepsen clean`: remove what killed runs left behind, that is every container and network
labelled `raft-jepsen.run` (Docker runs out of network address pools after a few dozen leaked
networks). Running runs are removed too: clean only when no run is in progress."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from raft_jepsen.harness.cluster import RUN_ID, remove_labelled
from raft_jepsen.harness.docker_env import RUN_LABEL, connect
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.yamlfile import short

HELP = "remove every raft-jepsen container and network (leftovers of killed runs)"
EPILOG = """examples:
  raft-jepsen clean                  # everything labelled raft-jepsen.run
  raft-jepsen clean --run 11231502-ab12"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", metavar="ID", help="remove only this run's containers and network")


def main(args: argparse.Namespace) -> int:
    if args.run is not None and not RUN_ID.match(args.run):
        raise UsageError(f"--run {short(repr(args.run))} is not a run id")
    label = RUN_LABEL if args.run is None else f"{RUN_LABEL}={args.run}"
    removed = remove_labelled(connect(), label)
    # The SSH key directories of those runs (clusters keep them in the temp dir until teardown).
    pattern = "raft-jepsen-*" if args.run is None else f"raft-jepsen-{args.run}-*"
    for key_dir in Path(tempfile.gettempdir()).glob(pattern):
        if (key_dir / "id_ecdsa").exists():
            shutil.rmtree(key_dir, ignore_errors=True)
            removed.append(str(key_dir))
    for name in removed:
        print(f"removed {name}")
    if not removed:
        print("nothing to clean")
    return 0
