"""`raft-jepsen image build`: the node image (`raft_jepsen.harness.image`)."""

from __future__ import annotations

import argparse

from raft_jepsen.harness.docker_env import connect
from raft_jepsen.harness.image import TAG, ensure_image

HELP = "build the node image offline (run does it automatically when it is missing)"
EPILOG = """examples:
  raft-jepsen image build                               # bootstrap from the host's Debian mirror
  raft-jepsen image build --base debian:bookworm-slim   # where a registry is reachable
  raft-jepsen image build --force                       # rebuild even if unchanged"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build",
        help="build the node image unless an identical one exists",
        description=f"Build {TAG} from node_image/ (Dockerfile, raftkv, package list), on a Debian "
        "bookworm root filesystem bootstrapped with mmdebstrap from the host's apt sources, or on --base. "
        "Skipped when an image with the same inputs exists.",
    )
    build.add_argument("--base", metavar="IMAGE", help="build on this registry image (e.g. debian:bookworm-slim) "
                       "instead of bootstrapping Debian offline with mmdebstrap")
    build.add_argument("--force", action="store_true", help="rebuild even if an image with the same inputs exists")


def main(args: argparse.Namespace) -> int:
    tag = ensure_image(connect(), base=args.base, force=args.force)
    print(tag)
    return 0
