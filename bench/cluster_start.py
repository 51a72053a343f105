"""Cluster start time: seconds from a built node image to N running containers with sshd
answering on their published ports, and the teardown that follows. Prints figures.

    python3 bench/cluster_start.py [--nodes 5] [--repeat 3]"""

from __future__ import annotations

import argparse
import statistics
import time

from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.docker_env import connect
from raft_jepsen.harness.image import ensure_image
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    client = connect()
    image = ensure_image(client)
    starts, teardowns = [], []
    for _ in range(args.repeat):
        cluster = Cluster(client, image, size=args.nodes, client_port=CLIENT_PORT)
        began = time.monotonic()
        try:
            cluster.start()
            starts.append(time.monotonic() - began)
        finally:
            began = time.monotonic()
            cluster.teardown()
            teardowns.append(time.monotonic() - began)
    print(f"{args.nodes} nodes, {args.repeat} runs")
    print(f"start (image -> containers up, sshd answering): median {statistics.median(starts):.2f} s, "
          f"min {min(starts):.2f} s, max {max(starts):.2f} s")
    print(f"teardown: median {statistics.median(teardowns):.2f} s, max {max(teardowns):.2f} s")


if __name__ == "__main__":
    main()
