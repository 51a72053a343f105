"""Real hosts are left as they were found: containers reached over SSH as `--remote ssh` reaches
real hosts; their firewall (iptables-save), processes and pid files (/run/rj) compared before
and after a run with partitions and kills, and after a run stopped by Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import yaml

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.runner import run
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT

pytestmark = pytest.mark.docker

# the filter table without counters and comments; processes by name, less this very snapshot's
SNAPSHOT = ("iptables-nft-save -t filter | grep -v '^#' | sed 's/ \\[[0-9]*:[0-9]*\\]//';"
            " echo ---; ps -eo comm= | grep -vx -e ps -e sh -e grep -e sort -e sed -e iptables-nft-sa | sort;"
            " echo ---; ls -A /run/rj 2>/dev/null")


@pytest.fixture(scope="module")
def hosts(docker_client, node_image, tmp_path_factory):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as cluster:
        folder = tmp_path_factory.mktemp("hosts")
        nodes_file = folder / "nodes.yaml"
        nodes_file.write_text(yaml.safe_dump({
            "key-file": str(cluster.key_file), "known-hosts": str(cluster.known_hosts),
            "nodes": [{"name": n.name, "host": n.ssh_addr[0], "ip": n.ip, "ssh-port": n.ssh_addr[1],
                       "client-port": n.client_addr[1]} for n in cluster.nodes],
        }))
        yield cluster, nodes_file


def _snapshot(cluster) -> dict[str, str]:
    return {n.name: n.remote.exec(SNAPSHOT).stdout for n in cluster.nodes}


def _settled(cluster, before: dict[str, str]) -> dict[str, str]:
    """The snapshot once sshd has reaped the run's closed sessions (a second at most)."""
    deadline = time.monotonic() + 5
    while (now := _snapshot(cluster)) != before and time.monotonic() < deadline:
        time.sleep(0.2)
    return now


def _spec(nodes_file, store, time_limit):
    return specs.build({"remote": "ssh", "nodes-file": str(nodes_file), "store": str(store), "nemesis": "partition,kill",
                        "nemesis-interval": 1, "time-limit": time_limit, "recovery-time": 1, "rate": 20,
                        "concurrency": 3, "seed": 5})


def test_a_run_over_ssh_leaves_each_host_as_found(hosts, tmp_path):
    cluster, nodes_file = hosts
    before = _snapshot(cluster)
    result = run(_spec(nodes_file, tmp_path / "store", 6))
    assert result.valid is True, result.reason
    assert result.results["op_counts"]["ok"] > 0
    assert _settled(cluster, before) == before


def test_a_run_stopped_by_ctrl_c_leaves_each_host_as_found(hosts, tmp_path):
    cluster, nodes_file = hosts
    before = _snapshot(cluster)
    timer = threading.Timer(5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        result = run(_spec(nodes_file, tmp_path / "store", 60))
    finally:
        timer.cancel()
    assert result.valid == "unknown" and "interrupted" in result.reason
    assert _settled(cluster, before) == before
