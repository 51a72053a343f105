"""Raft-aware faults against a real 3-node raftkv cluster: each hits the node its name promises,
as raftkv itself reports it (status), and a snapshot hold ends with the follower installing one."""

import itertools
import random
import threading
import time

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.package import package
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT, LOG_FILE, RAFT_PORT, status

from .waits import wait_for_leader

pytestmark = pytest.mark.docker


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as c:
        yield c


@pytest.fixture(scope="module")
def raftkv(cluster):
    system = systems.make(systems.get("raftkv"), cluster.nodes, options={"snapshot-every": "40"})
    for node in cluster.nodes:
        system.setup(node)
    yield system
    for node in cluster.nodes:
        system.teardown(node)


def build(cluster, system, names, timing="interval"):
    pkg = package(names, nodes=cluster.nodes, system=system, rng=random.Random(3), interval=2, probe_port=RAFT_PORT,
                  timing=timing)
    pkg.nemesis.setup()
    return pkg


def proc_state(node):
    pid = node.remote.exec("cat /run/rj/node.pid").stdout.strip()
    return node.remote.exec(f"sed 's/.*) //' /proc/{pid}/stat | cut -d' ' -f1").stdout.strip()


def test_pause_leader_stops_the_node_that_led(cluster, raftkv):
    leader = wait_for_leader(raftkv, cluster.nodes)
    pkg = build(cluster, raftkv, ["pause-leader"])
    try:
        value = pkg.nemesis.invoke(op("pause")).value
        assert value["outcome"] == "installed" and value["nodes"] == [leader] == value["leaders"], value
        by_name = {n.name: n for n in cluster.nodes}
        assert proc_state(by_name[leader]) == "T"
        others = [n for n in cluster.nodes if n.name != leader]
        assert wait_for_leader(raftkv, others) != leader  # the others elect someone else meanwhile
    finally:
        pkg.nemesis.teardown()


def test_partition_leader_minority_puts_the_old_leader_on_the_minority_side(cluster, raftkv):
    leader = wait_for_leader(raftkv, cluster.nodes)
    pkg = build(cluster, raftkv, ["partition-leader-minority"])
    try:
        value = pkg.nemesis.invoke(op("start-partition")).value
        assert value["outcome"] == "installed" and value["leaders"] == [leader], value
        assert sorted(value["grudge"][leader]) == sorted(n.name for n in cluster.nodes if n.name != leader)
        majority = [n for n in cluster.nodes if n.name != leader]
        assert wait_for_leader(raftkv, majority) != leader  # a new term's leader among the majority
        assert pkg.nemesis.invoke(op("stop-partition")).value["outcome"] == "healed"
    finally:
        pkg.nemesis.teardown()


def test_kill_follower_leaves_the_leader_leading(cluster, raftkv):
    leader = wait_for_leader(raftkv, cluster.nodes)
    pkg = build(cluster, raftkv, ["kill-follower"])
    try:
        value = pkg.nemesis.invoke(op("kill")).value
        assert value["outcome"] == "installed" and leader not in value["nodes"] and len(value["nodes"]) == 1, value
        assert status(next(n for n in cluster.nodes if n.name == value["nodes"][0])) is None  # down
        assert raftkv.primaries(cluster.nodes) == [leader]
        assert pkg.nemesis.invoke(op("start")).value["outcome"] == "healed"
    finally:
        pkg.nemesis.teardown()


def test_kill_leader_after_a_leader_change_kills_the_new_leader(cluster, raftkv):
    old = wait_for_leader(raftkv, cluster.nodes)
    pkg = build(cluster, raftkv, ["kill-leader"], timing="leader-change")
    try:
        value = pkg.nemesis.invoke(op("kill")).value
        assert value["outcome"] == "installed", value
        assert value["timing"]["paused"] == old and value["nodes"] == [value["timing"]["new_leader"]] != [old]
        healed = pkg.nemesis.invoke(op("start")).value
        assert healed["resumed"] == [old] and healed["outcome"] == "healed"
        wait_for_leader(raftkv, cluster.nodes)
    finally:
        pkg.nemesis.teardown()


def test_partition_snapshot_holds_a_follower_until_it_must_install_a_snapshot(cluster, raftkv):
    for node in cluster.nodes:  # fresh data: no log left behind by the kills of the tests before
        raftkv.setup(node)
    by_name = {n.name: n for n in cluster.nodes}
    leader = by_name[wait_for_leader(raftkv, cluster.nodes)]
    pkg = build(cluster, raftkv, ["partition-snapshot"])
    peers = {n.name: n.client_addr for n in cluster.nodes}
    done = threading.Event()

    def write():  # enough writes for several snapshots of 40 entries while the follower is away
        client = ProtocolClient(peers, timeout=2)
        client.open(leader)
        for value in itertools.count():
            if done.is_set():
                break
            client.invoke(Op(index=0, type="invoke", process=0, f="write", key=f"k{value % 5}", value=value))
        client.close()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        value = pkg.nemesis.invoke(op("start-partition")).value
        assert value["outcome"] == "installed", value
        behind = value["behind"]
        assert all(s > behind["last_index"] for s in behind["snapshot_index"].values()), behind
        done.set()
        writer.join(10)
        pkg.nemesis.invoke(op("stop-partition"))
        follower = by_name[behind["node"]]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            position = raftkv.log_position(follower)
            if position and position[1] >= min(behind["snapshot_index"].values()):
                break
            time.sleep(0.3)
        assert position and position[1] >= min(behind["snapshot_index"].values()), (position, behind)
        sent = [n.name for n in cluster.nodes if n is not follower and
                f'"event":"snapshot-send","peer":"{follower.name}"' in n.remote.exec(f"cat {LOG_FILE}").stdout]
        assert sent, "no node logged a snapshot sent to the follower"
    finally:
        done.set()
        pkg.nemesis.teardown()
