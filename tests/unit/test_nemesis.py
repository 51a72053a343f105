"""Nemeses over fake nodes: what each op does, what it records, how packages compose and heal."""

import random
import time

import pytest

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import FAULT_OPS
from raft_jepsen.harness.nemesis import NEMESES
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.package import package
from raft_jepsen.harness.nemesis.partition import PartitionNemesis
from raft_jepsen.harness.nemesis.process import (
    ProcessNemesis,
    kill_nemesis,
    pause_nemesis,
)
from raft_jepsen.harness.nemesis.targets import LEADER_SPECS, SPECS, NoTarget, resolve
from raft_jepsen.harness.systems.base import HasPrimaries, Killable, Pausable
from tests.unit.fake_nodes import FakeCluster

PEER_PORT = 7000  # what the partition probe connects to (raftkv's Raft port)


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


class BareSystem:
    """A System with no optional ability."""

    def setup(self, node):
        pass

    def teardown(self, node):
        pass

    def client(self, node):
        raise NotImplementedError


class FakeSystem(BareSystem):
    """Killable, Pausable, HasPrimaries, HasMembership: records each call, keeps who is down, who
    is stopped and who is out of the configuration."""

    def __init__(self, leaders=()):
        self.leaders = list(leaders)
        self.calls = []
        self.down = set()
        self.kill_at = {}
        self.stopped = set()
        self.positions = {}  # node -> (last index, snapshot index)
        self.removed = set()  # out of the configuration

    def kill(self, node, at=None):
        self.calls.append(("kill", node.name))
        self.kill_at[node.name] = at
        self.down.add(node.name)

    def start(self, node):
        self.calls.append(("start", node.name))
        self.down.discard(node.name)

    def pause(self, node):
        self.calls.append(("pause", node.name))
        self.stopped.add(node.name)

    def resume(self, node):
        self.calls.append(("resume", node.name))
        self.stopped.discard(node.name)

    def primaries(self, nodes):
        return [n for n in self.leaders if n in {node.name for node in nodes} and n not in self.stopped | self.down]

    def log_position(self, node):
        return self.positions.get(node.name)

    def members(self, nodes):
        return sorted(n.name for n in nodes if n.name not in self.removed)

    def remove_member(self, nodes, node):
        self.calls.append(("remove", node.name))
        self.removed.add(node.name)

    def add_member(self, nodes, node):
        self.calls.append(("add", node.name))
        self.removed.discard(node.name)


def test_fake_system_has_every_ability_the_nemeses_check_for():
    assert all(isinstance(FakeSystem(), a) for a in (Killable, Pausable, HasPrimaries))
    assert not isinstance(BareSystem(), Killable)


# --- node specs ---


@pytest.mark.parametrize("spec,count", [("one", 1), ("minority", 2), ("majority", 3), ("all", 5)])
def test_node_specs_pick_jepsen_sized_groups(spec, count):
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    picked = resolve(spec, nodes, random.Random(3), list)
    assert len(picked) == count and set(picked) <= set(nodes) and picked == sorted(picked)


def test_leader_specs_ask_the_system_and_pick_nobody_when_nobody_leads():
    nodes = ["n1", "n2", "n3"]
    assert resolve("primaries", nodes, random.Random(0), lambda: ["n3", "n2"]) == ["n2", "n3"]
    assert resolve("leader", nodes, random.Random(0), lambda: ["n3", "n2"]) in (["n2"], ["n3"])
    for spec in LEADER_SPECS:
        with pytest.raises(NoTarget, match="no leader"):
            resolve(spec, nodes, random.Random(0), list)


def test_node_specs_are_deterministic_per_seed():
    nodes = ["n1", "n2", "n3", "n4", "n5"]
    for spec in SPECS:
        assert resolve(spec, nodes, random.Random(9), lambda: ["n4"]) == resolve(
            spec, list(reversed(nodes)), random.Random(9), lambda: ["n4"]
        )


def test_an_unknown_node_spec_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown node spec 'some'"):
        resolve("some", ["n1"], random.Random(0), list)


# --- partitions ---


def test_start_partition_cuts_records_and_proves_it():
    cluster = FakeCluster(5)
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["halves"], random.Random(1))
    done = nemesis.invoke(op("start-partition"))
    value = done.value
    assert value["kind"] == "halves"
    assert {n: sorted(p) for n, p in cluster.drops().items() if p} == value["grudge"]
    assert isinstance(value["applied_ms"], int) and isinstance(value["verified_ms"], int)
    assert value["verified_ms"] >= value["applied_ms"]
    assert (done.f, done.type, done.process) == ("start-partition", "info", "nemesis")


def test_stop_partition_heals_and_proves_it():
    cluster = FakeCluster(5)
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["bridge"], random.Random(1))
    nemesis.invoke(op("start-partition"))
    value = nemesis.invoke(op("stop-partition")).value
    assert value["grudge"] == {} and isinstance(value["verified_ms"], int) and "leftover" not in value
    assert all(not p for p in cluster.drops().values())


def test_a_partition_that_does_not_take_effect_is_recorded_as_unverified():
    cluster = FakeCluster(3)
    for host in cluster.hosts:
        host.inert = True
    value = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["one"], random.Random(0)).invoke(op("start-partition")).value
    assert value["verified_ms"] is None
    assert value["observed"] == {"n1": [], "n2": [], "n3": []}


def test_partition_leader_isolates_the_leader_or_records_that_there_was_none():
    cluster = FakeCluster(5)
    leaders = []
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["leader"], random.Random(0), lambda: leaders)
    assert nemesis.invoke(op("start-partition")).value == {"kind": "leader", "leaders": [], "grudge": {}, "skipped": "no leader"}
    assert cluster.commands() == []
    leaders.append("n4")
    value = nemesis.invoke(op("start-partition")).value
    assert value["grudge"]["n4"] == ["n1", "n2", "n3", "n5"]


def test_same_seed_same_partitions():
    def grudges_for(seed):
        cluster = FakeCluster(5)
        nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["halves", "one", "ring", "bridge"], random.Random(seed))
        return [(v["kind"], v["grudge"]) for v in (nemesis.invoke(op("start-partition")).value for _ in range(6))]

    assert grudges_for(7) == grudges_for(7)
    assert grudges_for(7) != grudges_for(8)


def test_setup_cleans_a_previous_runs_rules_and_teardown_is_safe_twice():
    cluster = FakeCluster(3)
    cluster.host("n1").drops = {"10.9.0.3"}
    cluster.host("n1").jump = True
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["halves"], random.Random(0))
    nemesis.setup()
    assert all(not p for p in cluster.drops().values())
    nemesis.invoke(op("start-partition"))
    nemesis.teardown()
    nemesis.teardown()
    assert all(not p for p in cluster.drops().values())
    # a host is left with the firewall it had: no RJ chain, no jump to it (issue 13)
    assert not any(cluster.host(n).chain or cluster.host(n).jump for n in ("n1", "n2", "n3"))


def test_teardown_raises_when_the_heal_cannot_be_proven():
    cluster = FakeCluster(3)
    cluster.host("n2").legacy_rules = ["-A RJ -s 10.9.0.2/32 -j DROP"]
    with pytest.raises(EnvironmentProblem, match="network heal not verified: RJ rules left"):
        PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["halves"], random.Random(0)).teardown()


def test_teardown_raises_when_a_cut_survives_the_heal():
    cluster = FakeCluster(3)
    cluster.host("n3").legacy_rules = ["-A INPUT -s 10.9.0.2/32 -j DROP"]  # not ours, but still a cut
    with pytest.raises(EnvironmentProblem, match="network heal not verified: cuts seen .*'n1': \\['n3'\\]"):
        PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["halves"], random.Random(0)).teardown()


# --- process faults ---


def test_kill_hits_the_chosen_nodes_and_start_restarts_exactly_those():
    cluster, system = FakeCluster(5), FakeSystem()
    nemesis = kill_nemesis(system, cluster.nodes, random.Random(2), targets=["minority"])
    killed = nemesis.invoke(op("kill")).value
    assert killed["target"] == "minority" and len(killed["nodes"]) == 2
    assert system.down == set(killed["nodes"])
    assert isinstance(killed["verified_ms"], int)
    started = nemesis.invoke(op("start")).value
    assert started["nodes"] == killed["nodes"] and system.down == set()
    assert nemesis.invoke(op("start")).value["nodes"] == []


def together_nemesis(system, nodes, seed, targets, **kw):
    return ProcessNemesis(("kill", system.kill), ("start", system.start), nodes, random.Random(seed),
                          targets=targets, several="together", **kw)


def test_nodes_killed_together_share_one_instant_a_single_node_is_killed_at_once():
    cluster, system = FakeCluster(5), FakeSystem()
    nemesis = together_nemesis(system, cluster.nodes, 2, ["all"])
    before = time.time()
    assert nemesis.invoke(op("kill")).value["together"] is True
    instants = set(system.kill_at.values())
    assert len(system.kill_at) == 5 and len(instants) == 1 and instants.pop() > before
    nemesis.invoke(op("start"))
    system.kill_at.clear()
    one = together_nemesis(system, cluster.nodes, 2, ["one"])
    assert "together" not in one.invoke(op("kill")).value
    assert list(system.kill_at.values()) == [None]


def test_a_kill_of_several_nodes_rolls_one_after_another_in_a_seeded_order(monkeypatch):
    slept = []
    monkeypatch.setattr("raft_jepsen.harness.nemesis.process.time.sleep", slept.append)
    cluster, system = FakeCluster(5), FakeSystem()
    value = kill_nemesis(system, cluster.nodes, random.Random(5), targets=["majority"]).invoke(op("kill")).value
    assert "together" not in value and set(system.kill_at.values()) == {None}
    assert sorted(value["delays_ms"]) == value["nodes"] and min(value["delays_ms"].values()) == 0
    assert max(value["delays_ms"].values()) <= 1000 and len(set(value["delays_ms"].values())) == 3
    assert sorted(round(s * 1000) for s in slept) == sorted(value["delays_ms"].values())
    again = kill_nemesis(FakeSystem(), cluster.nodes, random.Random(5), targets=["majority"])
    assert again.invoke(op("kill")).value["delays_ms"] == value["delays_ms"]


def test_nodes_restarted_together_come_back_in_a_seeded_order_spread_over_a_second(monkeypatch):
    slept = []
    monkeypatch.setattr("raft_jepsen.harness.nemesis.process.time.sleep", slept.append)
    cluster, system = FakeCluster(5), FakeSystem()
    nemesis = together_nemesis(system, cluster.nodes, 4, ["majority"], spread_s=1.0)
    killed = nemesis.invoke(op("kill")).value["nodes"]
    delays = nemesis.invoke(op("start")).value["delays_ms"]
    assert sorted(delays) == killed and system.down == set()
    assert min(delays.values()) == 0 and all(0 <= d <= 1000 for d in delays.values())
    assert list(delays.values()) == sorted(delays.values()) and len(set(delays.values())) == 3
    assert sorted(round(s * 1000) for s in slept) == sorted(delays.values())
    again = together_nemesis(system, cluster.nodes, 4, ["majority"], spread_s=1.0)
    again.invoke(op("kill"))
    assert again.invoke(op("start")).value["delays_ms"] == delays
    one = together_nemesis(system, cluster.nodes, 4, ["one"], spread_s=1.0)
    one.invoke(op("kill"))
    assert "delays_ms" not in one.invoke(op("start")).value


def test_a_power_cut_kills_every_node_at_one_instant_and_power_on_restarts_them_all(monkeypatch):
    monkeypatch.setattr("raft_jepsen.harness.nemesis.process.time.sleep", lambda s: None)
    cluster, system, pkg = build(["power-cut"])
    assert pkg.faults == (("power-cut", "power-on"),) and pkg.final == ("power-on",)
    for _ in range(5):  # never rolling: a power cut is one instant
        value = pkg.nemesis.invoke(op("power-cut")).value
        assert value["target"] == "all" and value["together"] is True
        assert value["nodes"] == sorted(system.down) == [n.name for n in cluster.nodes]
        assert len(set(system.kill_at.values())) == 1
        on = pkg.nemesis.invoke(op("power-on")).value
        assert on["nodes"] == [n.name for n in cluster.nodes] and len(on["delays_ms"]) == 5
        assert system.down == set()


def test_every_fault_a_package_schedules_is_in_the_fault_table():
    # Progress lines, report bands and the availability checker know faults only through it.
    _, _, pkg = build(list(NEMESES))
    scheduled = pkg.faults + pkg.background
    assert {start: stop for start, stop in scheduled} == {s: stop for s, (stop, _) in FAULT_OPS.items()}


def test_kill_leader_with_no_leader_hits_nobody_and_says_so():
    cluster, system = FakeCluster(3), FakeSystem(leaders=[])
    nemesis = kill_nemesis(system, cluster.nodes, random.Random(0), targets=["leader"], primaries=lambda: [])
    value = nemesis.invoke(op("kill")).value
    assert value["nodes"] == [] and value["skipped"] == "no leader" and system.calls == []


def test_pause_and_resume():
    cluster, system = FakeCluster(3), FakeSystem(leaders=["n2"])
    nemesis = pause_nemesis(system, cluster.nodes, random.Random(0), targets=["leader"], primaries=lambda: ["n2"])
    assert nemesis.invoke(op("pause")).value["nodes"] == ["n2"] and system.stopped == {"n2"}
    assert nemesis.invoke(op("resume")).value["nodes"] == ["n2"] and system.stopped == set()


def test_process_teardown_heals_every_node_and_is_safe_twice():
    cluster, system = FakeCluster(3), FakeSystem()
    nemesis = pause_nemesis(system, cluster.nodes, random.Random(0), targets=["one"])
    nemesis.invoke(op("pause"))
    nemesis.teardown()
    nemesis.teardown()
    assert system.stopped == set()
    assert sorted(c for c in system.calls if c[0] == "resume") == sorted(
        [("resume", n) for n in ("n1", "n2", "n3")] * 2
    )


# --- packages ---


def build(names, n=5, system=None):
    cluster, system = FakeCluster(n), system or FakeSystem()
    return cluster, system, package(names, nodes=cluster.nodes, system=system, rng=random.Random(0), interval=5,
                                    probe_port=PEER_PORT, data_dirs=("/var/lib/data",))


def test_every_registered_name_builds_a_package():
    for name in NEMESES:
        _, _, pkg = build([name])
        assert (pkg.faults or pkg.background) and pkg.final


def test_package_lists_the_fault_pairs_and_the_final_heal():
    _, _, pkg = build(["partition", "kill", "pause"])
    assert pkg.faults == (("start-partition", "stop-partition"), ("kill", "start"), ("pause", "resume"))
    assert pkg.final == ("stop-partition", "start", "resume")
    assert pkg.interval == 5
    assert pkg.nemesis.fs == {"start-partition", "stop-partition", "kill", "start", "pause", "resume"}
    assert pkg.moves == {"start-partition"}  # a new partition may replace the one in force
    assert build(["kill", "pause"])[2].moves == frozenset()  # a kill adds to a kill: never moved on


def test_a_partition_started_while_one_is_in_force_replaces_it():
    cluster, _, pkg = build(["partition-halves"])
    grudges_seen = set()
    for _ in range(4):
        value = pkg.nemesis.invoke(op("start-partition")).value
        assert {n: sorted(p) for n, p in cluster.drops().items() if p} == value["grudge"]  # nothing left of the last
        assert value["verified_ms"] is not None
        grudges_seen.add(repr(value["grudge"]))
    assert len(grudges_seen) > 1


def test_package_routes_each_op_to_its_nemesis():
    cluster, system, pkg = build(["partition-one", "kill"])
    assert pkg.nemesis.invoke(op("start-partition")).value["kind"] == "one"
    assert any(cluster.drops().values())
    assert pkg.nemesis.invoke(op("kill")).value["nodes"] == sorted(system.down)
    with pytest.raises(UsageError, match="no nemesis in this package handles 'pause'"):
        pkg.nemesis.invoke(op("pause"))


def test_package_teardown_heals_everything():
    cluster, system, pkg = build(["partition", "kill", "pause"])
    for f in ("start-partition", "kill", "pause"):
        pkg.nemesis.invoke(op(f))
    pkg.nemesis.teardown()
    assert all(not p for p in cluster.drops().values())
    assert system.down == set() and system.stopped == set()


def test_package_teardown_heals_every_kind_before_reporting_a_failure():
    cluster, system, pkg = build(["partition", "kill"])
    pkg.nemesis.invoke(op("kill"))
    cluster.host("n1").legacy_rules = ["-A RJ -s 10.9.0.3/32 -j DROP"]
    with pytest.raises(EnvironmentProblem):
        pkg.nemesis.teardown()
    assert system.down == set()


def test_plain_partition_uses_only_the_kinds_the_cluster_allows():
    _, _, pkg = build(["partition"], n=3)
    assert sorted(pkg.nemesis.nemeses[0].kinds) == ["bridge", "halves", "leader", "one"]
    _, _, pkg = build(["partition"], n=3, system=BareSystem())
    assert "leader" not in pkg.nemesis.nemeses[0].kinds


@pytest.mark.parametrize(
    "names,n,system,message",
    [
        (["partition", "chaos"], 5, None, "unknown nemesis 'chaos' \\(expected one of partition, "),
        (["partition-ring"], 3, None, "partition-ring needs at least 4 nodes"),
        (["partition"], 1, None, "no partition is possible with 1 node"),
        (["partition-leader"], 3, BareSystem(), "needs a system that can name its leader"),
        (["kill"], 3, BareSystem(), "cannot be killed"),
        (["pause"], 3, BareSystem(), "cannot be paused"),
    ],
)
def test_impossible_packages_are_one_line_usage_errors(names, n, system, message):
    with pytest.raises(UsageError, match=message):
        build(names, n=n, system=system)


def test_kill_without_primaries_never_targets_the_leader():
    class KillOnly(BareSystem):
        def kill(self, node, at=None):
            pass

        def start(self, node):
            pass

    _, _, pkg = build(["kill"], system=KillOnly())
    assert pkg.nemesis.nemeses[0].targets == ["one", "minority", "majority", "all"]


def test_a_package_draws_its_faults_from_its_own_generator():
    def partitions(disturb):
        cluster, rng = FakeCluster(5), random.Random(11)
        pkg = package(["partition"], nodes=cluster.nodes, system=FakeSystem(["n1"]), rng=rng, interval=5, probe_port=PEER_PORT)
        values = []
        for _ in range(5):
            if disturb:
                rng.random()  # the run's generator, drawing from the same rng in another thread
            values.append(pkg.nemesis.invoke(op("start-partition")).value["grudge"])
        return values

    assert partitions(disturb=False) == partitions(disturb=True)


def test_no_nemesis_names_give_an_empty_package():
    _, _, pkg = build([])
    assert (pkg.faults, pkg.final, pkg.nemesis.fs) == ((), (), frozenset())
    pkg.nemesis.setup()
    pkg.nemesis.teardown()


def test_packet_faults_overlap_the_others_on_their_own_cycle_and_lead_it_alone():
    # A slow network is a standing condition the other faults come on top of.
    _, _, combined = build(["packet-latency", "kill-leader"])
    assert combined.faults == (("kill", "start"),) and combined.background == (("start-packet", "stop-packet"),)
    assert combined.final == ("start", "stop-packet")
    _, _, alone = build(["packet-delay"])
    assert alone.faults == (("start-packet", "stop-packet"),) and alone.background == ()


def test_pause_all_stops_every_node_and_resumes_them_together():
    cluster, system, pkg = build(["pause-all"])
    assert pkg.faults == (("pause", "resume"),)
    value = pkg.nemesis.invoke(op("pause")).value
    assert value["target"] == "all" and value["nodes"] == [n.name for n in cluster.nodes]
    assert system.stopped == {n.name for n in cluster.nodes}
    pkg.nemesis.invoke(op("resume"))
    assert system.stopped == set()
