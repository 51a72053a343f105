"""What makes the default faults find raftkv's bug switches (bench/detect.py measures it): faults
aimed at the leader more often, a spec that refuses a nemesis its cluster is too small for before
anything starts, and the even-majority switch counting every quorum the Helios way."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.partition import PartitionNemesis
from raft_jepsen.harness.nemesis.process import kill_nemesis, pause_nemesis
from tests.unit.fake_nodes import FakeCluster
from tests.unit.test_nemesis import FakeSystem

from .raftkv_cluster import LocalCluster

PEER_PORT = 7000  # what the partition probe connects to (raftkv's Raft port)

DRAWS = 400


def draws(nemesis, f: str, field: str) -> Counter:
    return Counter(nemesis.invoke(Op(index=0, type="info", process="nemesis", f=f)).value[field] for _ in range(DRAWS))


def test_kills_aim_at_the_leader_a_majority_and_everyone_more_than_at_one_node(monkeypatch):
    monkeypatch.setattr("raft_jepsen.harness.nemesis.process.time.sleep", lambda s: None)  # rolling kills wait
    cluster = FakeCluster(5)
    nemesis = kill_nemesis(FakeSystem(["n2"]), cluster.nodes, random.Random(3), primaries=lambda: ["n2"])
    drawn = draws(nemesis, "kill", "target")
    assert set(drawn) == {"one", "minority", "majority", "leader", "all"}
    assert drawn["leader"] > 2 * drawn["one"] and drawn["all"] > 2 * drawn["minority"]
    assert drawn["majority"] > drawn["one"]


def test_pauses_aim_at_the_leader_more_than_at_everyone():
    cluster = FakeCluster(5)
    nemesis = pause_nemesis(FakeSystem(["n2"]), cluster.nodes, random.Random(3), primaries=lambda: ["n2"])
    drawn = draws(nemesis, "pause", "target")
    assert drawn["leader"] > 2 * drawn["all"]


def test_about_half_the_partitions_cut_the_leader_off():
    cluster = FakeCluster(5)
    kinds = ["halves", "one", "leader", "ring", "bridge"]
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), kinds, random.Random(5), lambda: ["n1"])
    drawn = draws(nemesis, "start-partition", "kind")
    assert set(drawn) == set(kinds)
    assert 0.4 * DRAWS < drawn["leader"] < 0.6 * DRAWS


@pytest.mark.parametrize(
    "config,message",
    [
        ({"nodes": 3, "nemesis": "partition-ring"}, "nemesis partition-ring needs at least 4 nodes, the cluster has 3"),
        ({"nodes": 2, "nemesis": "partition-bridge,kill"}, "nemesis partition-bridge needs at least 3 nodes"),
        ({"nodes": 1}, "no partition is possible with 1 node"),
    ],
)
def test_a_nemesis_the_cluster_is_too_small_for_is_refused_by_the_spec(config, message):
    with pytest.raises(UsageError, match=message):
        specs.build(config)


def test_the_node_count_of_an_ssh_run_comes_from_its_nodes_file_not_the_spec():
    spec = specs.build({"nodes": 3, "nemesis": "partition-ring", "remote": "ssh", "nodes-file": "hosts.yaml"})
    assert spec.nemesis == ("partition-ring",)


@pytest.mark.timeout(90)
@pytest.mark.slow  # local node processes, real time
def test_even_majority_lets_both_halves_of_a_two_two_split_commit_writes(tmp_path):
    with LocalCluster(tmp_path, 4, bugs=["even-majority"]) as c:
        c.write("k", "before")
        halves = (["n1", "n2"], ["n3", "n4"])
        for side, other in (halves, halves[::-1]):
            for name in side:
                c.call(name, "drop", value=other)
        c.write("k", "left", among=halves[0])
        c.write("k", "right", among=halves[1])
        assert (c.read("k", among=halves[0]), c.read("k", among=halves[1])) == ("left", "right")
