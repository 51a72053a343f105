"""etcd in a real 3-container cluster: it comes up with one leader, a write is read back through
another member, acknowledged data survive every member killed at once, a pause and a partition
take effect, a leaderless member refuses at once and definitely, and a member is replaced
(remove, wipe, add) and serves again. About a minute and a half."""

from __future__ import annotations

import time

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.etcd import EtcdClient
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.systems import etcd

from .waits import wait_for_leader

pytestmark = pytest.mark.docker

ELECTION_MS = "1000"  # the tests' elections: quicker than the default 2 s


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=etcd.CLIENT_PORT) as c:
        yield c


@pytest.fixture(scope="module")
def system(cluster):
    s = systems.make(systems.get("etcd"), cluster.nodes, options={"election-ms": ELECTION_MS})
    for node in cluster.nodes:
        s.setup(node)
    yield s
    for node in cluster.nodes:
        s.teardown(node)


def call(node, f, key, value=None, **options) -> Op:
    client = EtcdClient(timeout=2.0, **options)
    client.open(node)
    try:
        return client.invoke(Op(index=0, type="invoke", process=0, f=f, key=key, value=value))
    finally:
        client.close()


def until(predicate, deadline_s=20):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if (value := predicate()):
            return value
        time.sleep(0.2)
    pytest.fail(f"not true within {deadline_s} s")


def by_name(cluster, name):
    return next(n for n in cluster.nodes if n.name == name)


def test_the_cluster_comes_up_and_a_write_is_read_back_through_another_member(cluster, system):
    n1, n2, _ = cluster.nodes
    wait_for_leader(system, cluster.nodes)
    assert call(n1, "write", "k-up", 7).type == "ok"
    assert call(n2, "read", "k-up").value == 7
    assert call(n2, "cas", "k-up", [7, 8]).type == "ok"
    mismatch = call(n1, "cas", "k-up", [7, 9])
    assert (mismatch.type, mismatch.error) == ("fail", "cas-mismatch")
    assert call(n1, "append", "l-up", 1).type == "ok" and call(n2, "append", "l-up", 2).type == "ok"
    assert call(n1, "read", "l-up").value == [1, 2]
    digests = system.digests(cluster.nodes)
    assert None not in digests.values() and len({d.digest for d in digests.values()}) == 1, digests
    log = cluster.nodes[0].remote.exec(f"cat {etcd.LOG_FILE}").stdout.splitlines()
    assert any(c.role in ("leader", "follower") and c.term for c in system.role_changes("n1", log))


def test_acknowledged_writes_survive_every_member_killed_at_once(cluster, system):
    n1 = cluster.nodes[0]
    wait_for_leader(system, cluster.nodes)
    assert call(n1, "write", "k-kill", 3).type == "ok"
    at = time.time() + 0.3
    for node in cluster.nodes:
        system.kill(node, at=at)
    assert all(system.status(n) is None for n in cluster.nodes)  # killed means not answering
    for node in cluster.nodes:
        system.start(node)
    wait_for_leader(system, cluster.nodes)
    for node in cluster.nodes:
        assert until(lambda node=node: call(node, "read", "k-kill").value) == 3


def test_a_paused_leader_is_replaced_and_its_clients_time_out(cluster, system):
    leader = by_name(cluster, wait_for_leader(system, cluster.nodes))
    others = [n for n in cluster.nodes if n is not leader]
    held = EtcdClient(timeout=2.0)  # a connection etcd answered on before the pause
    held.open(leader)
    assert held.invoke(Op(index=0, type="invoke", process=0, f="read", key="k-pause")).type == "ok"
    system.pause(leader)
    try:
        assert system.status(leader) is None
        assert wait_for_leader(system, others) != leader.name
        assert call(others[0], "write", "k-pause", 1).type == "ok"
        stuck = held.invoke(Op(index=1, type="invoke", process=0, f="write", key="k-pause", value=2))
        assert (stuck.type, stuck.error) == ("info", "timeout")  # it sits in the stopped member's socket: unknown
        fresh = call(leader, "write", "k-pause", 3)  # the kernel accepts, etcd never answers the handshake
        assert fresh.type == "fail" and fresh.error.startswith("not sent")
    finally:
        system.resume(leader)
        held.close()
    wait_for_leader(system, cluster.nodes)
    assert until(lambda: call(leader, "read", "k-pause").value) in (1, 2)


def test_a_cut_off_member_serves_stale_serializable_reads_and_no_linearizable_ones(cluster, system):
    wait_for_leader(system, cluster.nodes)
    lonely = cluster.nodes[2]
    majority = cluster.nodes[:2]
    assert call(majority[0], "write", "k-cut", 1).type == "ok"
    until(lambda: call(lonely, "read", "k-cut", serializable=True).value == 1)
    net = Net(cluster.nodes, port=etcd.PEER_PORT)
    grudge = {lonely.name: [n.name for n in majority], **{n.name: [lonely.name] for n in majority}}
    net.drop(grudge)
    try:
        assert net.verify(grudge).matches(grudge)
        wait_for_leader(system, majority)
        assert call(majority[0], "write", "k-cut", 2).type == "ok"
        assert call(lonely, "read", "k-cut", serializable=True).value == 1  # stale: the point of the option
        assert call(lonely, "read", "k-cut").type == "fail"
    finally:
        net.heal()
    assert until(lambda: call(lonely, "read", "k-cut").value == 2)


def test_a_member_without_a_leader_refuses_at_once_and_definitely(cluster, system):
    survivor = cluster.nodes[0]
    dead = cluster.nodes[1:]
    wait_for_leader(system, cluster.nodes)
    for node in dead:
        system.kill(node)
    try:
        until(lambda: (s := system.status(survivor)) is not None and s.leader is None)  # CheckQuorum stepped down
        started = time.monotonic()
        refused = call(survivor, "write", "k-lead", 1)
        assert (refused.type, refused.error) == ("fail", "etcdserver: no leader")
        assert time.monotonic() - started < 1.5  # the has-leader header: no 2 s client timeout, no 7 s server wait
        assert call(survivor, "read", "k-lead").type == "fail"
        assert call(survivor, "append", "l-lead", 1).type == "fail"
    finally:
        for node in dead:
            system.start(node)
    wait_for_leader(system, cluster.nodes)


def test_a_member_is_replaced_by_remove_wipe_add_and_serves_again(cluster, system):
    wait_for_leader(system, cluster.nodes)
    n3 = cluster.nodes[2]
    assert system.members(cluster.nodes) == ["n1", "n2", "n3"]
    assert call(cluster.nodes[0], "write", "k-member", 5).type == "ok"
    system.remove_member(cluster.nodes, n3)
    assert system.members(cluster.nodes) == ["n1", "n2"]
    assert system.status(n3) is None
    system.start(n3)  # a heal of other faults: a removed member stays down
    assert system.status(n3) is None
    system.add_member(cluster.nodes, n3)
    assert system.members(cluster.nodes) == ["n1", "n2", "n3"]
    assert until(lambda: call(n3, "read", "k-member").value) == 5
    n3_status = until(lambda: system.status(n3))
    assert n3_status.leader in ("n1", "n2", "n3")
