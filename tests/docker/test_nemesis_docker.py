"""Nemeses against a real 3-container cluster: partitions proven by the probe matrix and healed
without a trace, raftkv killed and restarted, paused and resumed, the whole cluster power-cut."""

import itertools
import random
import threading
import time

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.partition import PartitionNemesis
from raft_jepsen.harness.nemesis.process import (
    kill_nemesis,
    pause_nemesis,
    power_cut_nemesis,
)
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT, status

from .waits import wait_for_leader

PEER_PORT = 7000  # what the partition probe connects to (raftkv's Raft port)

pytestmark = pytest.mark.docker


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as c:
        yield c


@pytest.fixture(scope="module")
def raftkv(cluster):
    system = systems.make(systems.get("raftkv"), cluster.nodes)
    for node in cluster.nodes:
        system.setup(node)
    yield system
    for node in cluster.nodes:
        system.teardown(node)


def rj_rules(node):
    saved = node.remote.exec("iptables-nft-save -t filter; iptables-legacy-save -t filter").stdout
    return [line for line in saved.splitlines() if line.startswith("-A RJ ")]


@pytest.mark.parametrize("kind", ["halves", "one", "bridge"])
def test_partition_is_proven_then_healed_without_a_trace(cluster, kind):
    net = Net(cluster.nodes, port=PEER_PORT)
    nemesis = PartitionNemesis(net, [kind], random.Random(5))
    nemesis.setup()

    started = nemesis.invoke(op("start-partition")).value
    assert started["verified_ms"] is not None, started
    grudge = started["grudge"]
    assert net.probe().matches(grudge)
    cut_node = next(n for n in cluster.nodes if n.name in grudge)
    assert len(rj_rules(cut_node)) == len(grudge[cut_node.name])  # iptables expands `-s a,b` per source

    stopped = nemesis.invoke(op("stop-partition")).value
    assert stopped["verified_ms"] is not None and "leftover" not in stopped, stopped
    matrix = net.probe()
    assert all(not peers for peers in matrix.cut.values()), matrix.to_json()
    for node in cluster.nodes:
        assert rj_rules(node) == []
        # Docker's embedded DNS (nat rules in the node's own namespace) is untouched.
        assert node.remote.exec("getent hosts n1 n2 n3").stdout.count("\n") == 3
    nemesis.teardown()
    nemesis.teardown()


def test_kill_and_restart_the_leader(cluster, raftkv):
    leader = wait_for_leader(raftkv, cluster.nodes)
    nemesis = kill_nemesis(
        raftkv, cluster.nodes, random.Random(1), targets=["leader"], primaries=lambda: raftkv.primaries(cluster.nodes)
    )
    victim = next(n for n in cluster.nodes if n.name == leader)
    term = status(victim)["term"]

    killed = nemesis.invoke(op("kill")).value
    assert killed["nodes"] == [leader] and isinstance(killed["verified_ms"], int)
    assert status(victim) is None
    assert "raftkv" not in victim.remote.exec("ps -eo stat,args").stdout
    survivors = [n for n in cluster.nodes if n.name != leader]
    assert wait_for_leader(raftkv, survivors) != leader

    started = nemesis.invoke(op("start")).value
    assert started["nodes"] == [leader]
    after = status(victim)
    assert after is not None and after["term"] >= term
    nemesis.teardown()


def test_pause_and_resume_a_node(cluster, raftkv):
    wait_for_leader(raftkv, cluster.nodes)
    nemesis = pause_nemesis(raftkv, cluster.nodes, random.Random(2), targets=["one"])

    paused = nemesis.invoke(op("pause")).value
    (name,) = paused["nodes"]
    node = next(n for n in cluster.nodes if n.name == name)
    state = node.remote.exec("sed 's/.*) //' /proc/$(cat /run/rj/node.pid)/stat | cut -d' ' -f1").stdout.strip()
    assert state == "T"
    assert status(node, timeout=0.5) is None

    resumed = nemesis.invoke(op("resume")).value
    assert resumed["nodes"] == [name]
    assert status(node) is not None
    nemesis.teardown()
    nemesis.teardown()


def test_a_power_cut_kills_every_node_together_and_correct_raftkv_keeps_every_acknowledged_write(cluster, raftkv):
    wait_for_leader(raftkv, cluster.nodes)
    peers = {n.name: n.client_addr for n in cluster.nodes}
    acked: list[int] = []
    cut_done = threading.Event()

    def write_until_the_cut() -> None:
        # One writer, ascending values, up to the instant the nodes die: the last acknowledgements
        # come well inside a background flush period (lazy-fsync loses them), so only an fsync
        # before each reply, raftkv's group commit, keeps them.
        client = ProtocolClient(peers)
        client.open(cluster.nodes[0])
        for value in itertools.count():
            done = client.invoke(Op(index=0, type="invoke", process=0, f="write", key="pc", value=value))
            if done.type == "ok":
                acked.append(value)
            elif cut_done.is_set():
                break
        client.close()

    writer = threading.Thread(target=write_until_the_cut)
    writer.start()
    time.sleep(1)
    nemesis = power_cut_nemesis(raftkv, cluster.nodes, random.Random(3))
    try:
        cut = nemesis.invoke(op("power-cut")).value
    finally:
        cut_done.set()
        writer.join()
    assert cut["nodes"] == [n.name for n in cluster.nodes] and cut["together"] is True
    assert all(status(n, timeout=0.5) is None for n in cluster.nodes)
    assert len(acked) > 10, "the writer got too few acknowledgements to prove anything"
    assert nemesis.invoke(op("power-on")).value["nodes"] == [n.name for n in cluster.nodes]
    wait_for_leader(raftkv, cluster.nodes)

    reader = ProtocolClient(peers, retries=3)
    reader.open(cluster.nodes[1])
    read = reader.invoke(Op(index=0, type="invoke", process=1, f="read", key="pc"))
    reader.close()
    # The value read may be a later write whose reply the cut swallowed, never an earlier one.
    assert read.type == "ok" and read.value >= acked[-1], (read, acked[-5:])
    nemesis.teardown()
