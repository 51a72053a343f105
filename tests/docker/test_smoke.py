"""Issue 3's smoke test, end to end at the lowest level: three containers on a private network,
raftkv started in each through docker exec, a leader elected, a write read back through the
published client ports, the leader killed with kill -9, a new leader serving the value, and
nothing left behind afterwards."""

from __future__ import annotations

import json
import socket
import time

import pytest

from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT
from tests.docker.conftest import detached, labelled

pytestmark = pytest.mark.docker

PEERS = "n1=n1:7000,n2=n2:7000,n3=n3:7000"
START = (
    "echo $$ >/run/rj/node.pid; exec python3 -m raftkv --id {name} --peers " + PEERS
    + " --data /var/lib/raftkv --client-port 8000 >>/var/log/rj/node.log 2>&1"
)


def request(node: Node, op: str, **fields) -> dict | None:
    """One JSON-line request to a node's published client port; None if it does not answer."""
    message = {"id": 1, "client": "smoke", "seq": int(time.monotonic_ns()), "op": op, **fields}
    try:
        with socket.create_connection(node.client_addr, timeout=2) as sock:
            sock.settimeout(5)
            sock.sendall(json.dumps(message).encode() + b"\n")
            return json.loads(sock.makefile("rb").readline())
    except (OSError, ValueError):
        return None


def ok_value(reply: dict | None):
    assert reply is not None and reply.get("ok") is True, reply
    return reply.get("value")


def sole_leader(nodes: list[Node], deadline_s: float = 20.0) -> Node:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        leaders = [n for n in nodes if (reply := request(n, "status")) and reply.get("role") == "leader"]
        if len(leaders) == 1:
            return leaders[0]
        time.sleep(0.2)
    pytest.fail(f"no single leader among {[n.name for n in nodes]} within {deadline_s:g} s")


def test_leader_killed_new_leader_serves_the_value(docker_client, node_image):
    cluster = Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT)
    with cluster:
        for node in cluster.nodes:
            node.remote.exec(detached(START.format(name=node.name)))
        leader = sole_leader(cluster.nodes)

        assert ok_value(request(leader, "write", key="k", value=42)) == 42
        assert ok_value(request(leader, "read", key="k")) == 42

        pid = leader.remote.exec("cat /run/rj/node.pid").stdout.strip()
        leader.remote.exec(f"kill -9 {pid}")
        # tini reaps it: gone from /proc, not a zombie that still holds the pid.
        leader.remote.exec(f"while test -e /proc/{pid}; do sleep 0.1; done", timeout=5)
        assert request(leader, "status") is None

        survivors = [n for n in cluster.nodes if n is not leader]
        new_leader = sole_leader(survivors)
        assert new_leader.name != leader.name
        assert ok_value(request(new_leader, "read", key="k")) == 42
    assert labelled(docker_client, cluster.run_id) == []
