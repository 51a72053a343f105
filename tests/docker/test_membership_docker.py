"""The membership fault on real containers with raftkv: members removed and added back (with
their disks) while a client writes, each change read back from the leader, the original
membership restored."""

import random
import time

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.membership import RESTORE, START, STOP, MembershipNemesis
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT, status

pytestmark = pytest.mark.docker


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


def test_membership_fault_changes_the_configuration_then_restores_it(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as cluster:
        nodes = cluster.nodes
        system = systems.make(systems.get("raftkv"), nodes)
        for node in nodes:
            system.setup(node)
        try:
            deadline = time.monotonic() + 20
            while len(system.primaries(nodes)) != 1:
                assert time.monotonic() < deadline, "no leader"
                time.sleep(0.2)
            nemesis = MembershipNemesis(system, nodes, random.Random(3), pause_s=0.3)
            nemesis.setup()
            started = nemesis.invoke(op(START)).value
            assert started["members"] == ["n1", "n2", "n3"] and started["committed"]
            client = ProtocolClient({n.name: n.client_addr for n in nodes})
            client.open(nodes[0])
            acked = []
            until = time.monotonic() + 6
            i = 0
            while time.monotonic() < until:
                i += 1
                done = client.invoke(Op(index=i, type="invoke", process=0, f="write", key="k", value=i))
                if done.type == "ok":
                    acked.append(i)
            client.close()
            value = nemesis.invoke(op(STOP)).value  # returns at once; the churn adds back
            restored = nemesis.invoke(op(RESTORE)).value  # the final phase's heal
            changes = value["changes"] + restored["changes"]
            removals = [c for c in changes if "remove" in c and c["outcome"] == "installed"]
            adds = [c for c in changes if "add" in c and c["outcome"] == "installed"]
            assert removals and adds, (value, restored)
            # proof read back from the cluster: the removed node was out, the added one in
            assert all(c["remove"][0] not in c["members"] and len(c["members"]) == 2 for c in removals), value
            assert all(c["add"][0] in c["members"] for c in adds), value
            assert restored["members"] == ["n1", "n2", "n3"] and restored["committed"], (value, restored)
            assert acked, "no write succeeded while the membership changed"
            # every node is a member again and has caught up with the last acknowledged write
            deadline = time.monotonic() + 20
            while True:
                states = [status(n) for n in nodes]
                if all(s and s["members"] == ["n1", "n2", "n3"] for s in states):
                    applied = {s["last_applied"] for s in states}
                    if len(applied) == 1:
                        break
                assert time.monotonic() < deadline, states
                time.sleep(0.2)
            nemesis.teardown()
        finally:
            for node in nodes:
                system.teardown(node)
