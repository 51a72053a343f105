"""Raft-aware fault targets, timed faults, every fault's outcome, the coverage check, and a nemesis
that fails mid-run, all against fake nodes and the fake system."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from raft_jepsen.checkers.coverage import Coverage
from raft_jepsen.harness import fakes, runner
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.backend import Backend
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.history import Op, read_jsonl
from raft_jepsen.harness.history.faults import COVERS, outcome
from raft_jepsen.harness.nemesis import NEMESES
from raft_jepsen.harness.nemesis.grudges import majority
from raft_jepsen.harness.nemesis.net import Net
from raft_jepsen.harness.nemesis.package import ComposedNemesis, Package, package
from raft_jepsen.harness.nemesis.partition import PartitionNemesis
from raft_jepsen.harness.nemesis.targets import NoTarget, resolve

from .fake_nodes import FakeCluster
from .test_nemesis import PEER_PORT, FakeSystem, op

NODES5 = ["n1", "n2", "n3", "n4", "n5"]


def build(names, n=5, system=None, timing="interval"):
    cluster, system = FakeCluster(n), system or FakeSystem()
    return cluster, system, package(names, nodes=cluster.nodes, system=system, rng=random.Random(0), interval=5,
                                    probe_port=PEER_PORT, data_dirs=("/var/lib/data",), timing=timing)


def sides(grudge):
    """The two sides of a two-sided grudge, as sets."""
    a = next(iter(grudge))
    mine = {a} | (set(NODES5) - set(grudge[a]) - {a})
    return mine, set(grudge) - mine | (set(NODES5) - set(grudge) - mine)


# --- targets ---


@pytest.mark.parametrize("seed", range(20))
def test_raft_targets_are_chosen_around_the_leader(seed):
    def leader():
        return ["n3"]

    rng = random.Random(seed)
    assert resolve("leader", NODES5, rng, leader) == ["n3"]
    follower = resolve("follower", NODES5, rng, leader)
    assert len(follower) == 1 and follower != ["n3"]
    with_leader = resolve("majority-with-leader", NODES5, rng, leader)
    assert "n3" in with_leader and len(with_leader) == majority(5)
    without = resolve("majority-without-leader", NODES5, rng, leader)
    assert "n3" not in without and len(without) == majority(5)


def test_a_raft_target_with_too_few_followers_is_no_target_with_why():
    with pytest.raises(NoTarget, match="1 follower.*needs 2"):
        resolve("majority-without-leader", ["n1", "n2"], random.Random(0), lambda: ["n1"])


@pytest.mark.parametrize("seed", range(15))
def test_partition_leader_minority_and_majority_put_the_leader_where_they_say(seed):
    cluster = FakeCluster(5)
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["leader-minority", "leader-majority"],
                               random.Random(seed), lambda: ["n2"])
    for _ in range(4):
        value = nemesis.invoke(op("start-partition")).value
        assert value["leaders"] == ["n2"] and value["verified_ms"] is not None
        grudge = value["grudge"]
        leader_side = {"n2"} | (set(NODES5) - {"n2"} - set(grudge["n2"]))
        assert (len(leader_side) < majority(5)) == (value["kind"] == "leader-minority")
        assert 1 <= len(leader_side) <= 4


def test_a_leader_partition_with_no_leader_is_skipped_and_cuts_nothing():
    cluster, _, pkg = build(["partition-leader-minority"], system=FakeSystem(leaders=[]))
    value = pkg.nemesis.invoke(op("start-partition")).value
    assert value["skipped"] == "no leader" and value["outcome"] == "skipped"
    assert not any(cluster.drops().values())


def test_a_move_with_no_target_still_ends_the_partition_it_was_to_replace():
    system = FakeSystem(leaders=["n2"])
    cluster, _, pkg = build(["partition-leader-minority"], system=system)
    assert pkg.nemesis.invoke(op("start-partition")).value["outcome"] == "installed"
    assert any(cluster.drops().values())
    system.leaders = []  # the partition left no leader: the move finds no target
    value = pkg.nemesis.invoke(op("start-partition")).value
    assert value["skipped"] == "no leader" and value["outcome"] == "skipped"
    assert value["healed_previous"]["verified_ms"] is not None
    assert not any(cluster.drops().values())


def test_kill_follower_never_kills_the_leader_and_records_who_led():
    system = FakeSystem(leaders=["n4"])
    _, _, pkg = build(["kill-follower"], system=system)
    for _ in range(6):
        value = pkg.nemesis.invoke(op("kill")).value
        assert value["target"] == "follower" and value["leaders"] == ["n4"] and "n4" not in value["nodes"]
        assert value["outcome"] == "installed"
        assert pkg.nemesis.invoke(op("start")).value["outcome"] == "healed"
    assert ("kill", "n4") not in system.calls


def test_kill_majority_with_and_without_the_leader():
    system = FakeSystem(leaders=["n1"])
    _, _, pkg = build(["kill-majority-with-leader", "kill-majority-without-leader"], system=system)
    seen = set()
    for _ in range(12):
        value = pkg.nemesis.invoke(op("kill")).value
        pkg.nemesis.invoke(op("start"))
        assert len(value["nodes"]) == 3 and ("n1" in value["nodes"]) == (value["target"] == "majority-with-leader")
        seen.add(value["target"])
    assert seen == {"majority-with-leader", "majority-without-leader"}


def test_pause_leader_with_nobody_leading_is_skipped_with_why_and_pauses_nobody():
    system = FakeSystem(leaders=[])
    _, _, pkg = build(["pause-leader"], system=system)
    value = pkg.nemesis.invoke(op("pause")).value
    assert value == {"target": "leader", "nodes": [], "leaders": [], "skipped": "no leader", "outcome": "skipped"}
    assert system.calls == []


def test_partition_snapshot_holds_a_follower_until_the_others_compacted_past_it():
    system = FakeSystem(leaders=["n1"])
    _, _, pkg = build(["partition-snapshot"], system=system)
    system.positions = {n: (100, 0) for n in NODES5}
    polls = []

    def position(node):  # the others compact past 100 on the third look
        polls.append(node.name)
        last, snap = system.positions[node.name]
        return (last, 150) if polls.count(node.name) >= 3 and snap == 0 and node.name != alone[0] else (last, snap)

    alone = []
    system.log_position = position
    nemesis = pkg.nemesis.nemeses[0]
    nemesis_pick = nemesis._around
    nemesis._around = lambda kind, leader: (g := nemesis_pick(kind, leader), alone.append(
        next(n for n, p in g.items() if len(p) == 4)))[0]
    from raft_jepsen.harness.nemesis import partition
    partition.SNAPSHOT_POLL_S, old = 0.0, partition.SNAPSHOT_POLL_S
    try:
        value = pkg.nemesis.invoke(op("start-partition")).value
    finally:
        partition.SNAPSHOT_POLL_S = old
    assert value["kind"] == "snapshot" and value["outcome"] == "installed"
    assert alone[0] != "n1" and value["behind"]["node"] == alone[0] and value["behind"]["last_index"] == 100
    assert all(s == 150 for s in value["behind"]["snapshot_index"].values())


def test_partition_snapshot_not_reached_in_time_is_indeterminate_and_keeps_the_cut():
    system = FakeSystem(leaders=["n1"])
    cluster = FakeCluster(5)
    system.positions = {n: (100, 0) for n in NODES5}
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["snapshot"], random.Random(1), lambda: ["n1"],
                               positions=lambda n: system.positions[n], snapshot_wait_s=0.0)
    value = ComposedNemesis([nemesis]).invoke(op("start-partition")).value
    assert value["outcome"] == "indeterminate" and "did not pass" in value["indeterminate"]
    assert any(cluster.drops().values())  # the stop op heals it, as any partition


# --- outcomes ---


class FlakySystem(FakeSystem):
    """A kill that cannot be verified on one node."""

    def kill(self, node, at=None):
        super().kill(node, at)
        if node.name == "n2":
            raise EnvironmentProblem("n2: raftkv kill failed: pid 41 or its group not reaped (state D)")


def test_a_fault_whose_effect_cannot_be_verified_is_indeterminate_with_why():
    _, _, pkg = build(["kill-majority-with-leader"], system=FlakySystem(leaders=["n2"]))
    value = pkg.nemesis.invoke(op("kill")).value
    assert value["outcome"] == "indeterminate" and value["verified_ms"] is None
    assert "not reaped" in value["indeterminate"]["n2"]


def test_a_partition_the_probe_never_saw_is_indeterminate():
    cluster, _, pkg = build(["partition-halves"])
    for host in cluster.hosts:
        host.inert = True
    assert pkg.nemesis.invoke(op("start-partition")).value["outcome"] == "indeterminate"


def test_every_nemesis_name_has_a_coverage_rule():
    assert set(NEMESES) <= set(COVERS)


# --- timing ---


class ElectingSystem(FakeSystem):
    """Pausing the leader makes the next node lead, as an election would."""

    def pause(self, node):
        super().pause(node)
        if node.name in self.leaders:
            self.leaders = [n for n in NODES5 if n not in self.stopped | self.down][:1]


def test_leader_change_timing_pauses_the_leader_then_kills_the_new_one_and_resumes_the_old_at_the_heal():
    system = ElectingSystem(leaders=["n1"])
    _, _, pkg = build(["kill-leader"], system=system, timing="leader-change")
    value = pkg.nemesis.invoke(op("kill")).value
    assert value["timing"]["at"] == "leader-change" and value["timing"]["paused"] == "n1"
    assert value["timing"]["new_leader"] == "n2" and value["nodes"] == ["n2"] and value["outcome"] == "installed"
    healed = pkg.nemesis.invoke(op("start")).value
    assert healed["resumed"] == ["n1"] and "n1" not in system.stopped


def test_a_timed_fault_whose_moment_never_comes_is_skipped_and_the_leader_resumed():
    system = FakeSystem(leaders=["n1"])  # pausing n1 elects nobody
    cluster, system, pkg = build(["partition-halves"], system=system, timing="leader-change")
    pkg.nemesis.nemeses[0].wait_s = 0.05
    value = pkg.nemesis.invoke(op("start-partition")).value
    assert value["outcome"] == "skipped" and "no new leader" in value["skipped"]
    assert value["timing"]["resumed"] == ["n1"] and "n1" not in system.stopped
    assert not any(cluster.drops().values())


def test_election_timing_skips_when_the_new_leader_came_first():
    system = ElectingSystem(leaders=["n1"])
    _, _, pkg = build(["pause-follower"], system=system, timing="election")
    value = pkg.nemesis.invoke(op("pause")).value
    assert value["outcome"] == "skipped" and "was elected" in value["skipped"]


# --- coverage ---


def fault(index, f, time, **value):
    return Op(index=index, type="info", process="nemesis", f=f, value=value, time=time)


def test_coverage_counts_outcomes_and_time_in_effect_per_requested_name():
    history = [
        fault(0, "kill", 1_000_000_000, target="leader", nodes=["n1"], outcome="installed"),
        fault(1, "start", 3_000_000_000, nodes=["n1"], outcome="healed"),
        fault(2, "kill", 4_000_000_000, target="follower", nodes=[], outcome="skipped", skipped="no leader"),
        fault(3, "start", 5_000_000_000, nodes=[], outcome="healed"),
        fault(4, "start-partition", 6_000_000_000, kind="halves", outcome="installed"),
        fault(5, "start-partition", 7_500_000_000, kind="halves", outcome="indeterminate", verified_ms=None),
        fault(6, "stop-partition", 8_000_000_000, outcome="healed"),
    ]
    # "some-new-fault": a name without a coverage rule decides nothing (shown as not tracked)
    result = Coverage(["kill-leader", "kill", "partition", "kill-follower", "some-new-fault"]).check(history)
    assert result["faults"]["kill-leader"] == {"installed": 1, "in_effect_s": 2.0}
    assert result["faults"]["kill"] == {"installed": 1, "skipped": 1, "in_effect_s": 2.0}
    assert result["faults"]["partition"] == {"installed": 1, "indeterminate": 1, "in_effect_s": 1.5}  # moved at 7.5
    assert result["faults"]["some-new-fault"] == {"tracked": False}
    assert result["valid"] == "unknown" and result["missing"] == ["kill-follower"]
    assert result["reason"] == "requested fault never in effect: kill-follower (1 skipped)"


def test_coverage_is_valid_when_every_requested_fault_took_effect_and_counts_failures():
    history = [fault(0, "pause", 10, target="leader", outcome="installed"),
               Op(index=1, type="info", process="nemesis", f="pause", time=20, error="nemesis failed: boom")]
    result = Coverage(["pause"]).check(history)
    assert result["valid"] is True and result["faults"]["pause"]["failed"] == 1
    assert outcome(history[1]) == "failed"


# --- the runner: a run whose faults never happened, a nemesis that fails ---


class Scripted:
    """A nemesis whose every start returns `value` (or raises on the `crash_at`-th op)."""

    fs = frozenset({"start-partition", "stop-partition"})

    def __init__(self, db, value=None, crash_at=None):
        self.db, self.value, self.crash_at, self.calls = db, value, crash_at, 0

    def setup(self):
        pass

    def teardown(self):
        self.db.partitioned = False

    def invoke(self, o):
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("iptables vanished")
        return replace(o, value=dict(self.value) if o.f == "start-partition" else {})


def run_with(tmp_path, nemesis):
    db = fakes.AtomDB()
    spec = specs.build({"nodes": 3, "concurrency": 4, "time-limit": 2, "rate": 200, "nemesis": "partition",
                        "nemesis-interval": 0.2, "recovery-time": 0.1, "seed": 5, "store": str(tmp_path / "store")})
    made = nemesis(db)

    def package_of(spec, nodes, system, rng):
        return Package(ComposedNemesis([made]), (("start-partition", "stop-partition"),), spec.nemesis_interval,
                       ("stop-partition",), frozenset())

    base = fakes.backend(db)
    result = runner.run(spec, backend=Backend(cluster=base.cluster, system=base.system, nemesis=package_of))
    return result, list(read_jsonl(result.run_dir / "history.jsonl"))


@pytest.mark.slow
def test_a_run_whose_requested_fault_never_took_effect_is_unknown(tmp_path):
    result, history = run_with(tmp_path, lambda db: Scripted(db, {"kind": "halves", "skipped": "no leader"}))
    assert result.valid == "unknown" and result.exit_code == 2
    assert "never in effect: partition" in result.reason
    assert result.results["checkers"]["linearizable"]["valid"] is True  # checked all the same
    assert all(op.value.get("outcome") in ("skipped", "healed") for op in history if op.process == "nemesis")


@pytest.mark.slow
def test_a_nemesis_that_fails_stops_the_run_heals_checks_what_ran_and_exits_2(tmp_path):
    made = []
    result, history = run_with(tmp_path, lambda db: made.append(Scripted(db, {"kind": "halves"}, crash_at=3)) or made[0])
    assert result.valid == "unknown" and result.exit_code == 2
    assert result.reason.startswith("harness failure: start-partition: nemesis failed: RuntimeError: iptables vanished")
    failed = [op for op in history if op.process == "nemesis" and op.error]
    assert len(failed) == 1 and outcome(failed[0]) == "failed" and failed[0].value == {"outcome": "failed"}
    assert not any(op.node for op in history if op.type == "invoke")  # no final reads: the run stopped
    assert made[0].calls == 3 and not made[0].db.partitioned  # no fault after it; healed
    assert "linearizable" in result.results["checkers"]  # what ran was checked


def test_the_cli_prints_the_coverage_in_one_line():
    from raft_jepsen.harness.cli.run import coverage_line

    line = coverage_line({"faults": {"kill-leader": {"installed": 2, "skipped": 1, "in_effect_s": 4.5},
                                     "pause-follower": {"skipped": 3, "in_effect_s": 0.0}, "membership": {"tracked": False}}})
    assert line == ("faults: kill-leader 2x in effect 4.5 s (1 skipped); pause-follower NEVER in effect (3 skipped); "
                    "membership not tracked")
    assert coverage_line(None) is None


def test_a_skipped_fault_has_no_failover_to_measure():
    from raft_jepsen.checkers.availability import availability

    def client(index, type_, f, time):
        return Op(index=index, type=type_, process=0, f=f, key="k", value=1, time=time)

    history = [client(0, "invoke", "write", 0), client(1, "ok", "write", 10),
               fault(2, "kill", 20, target="leader", nodes=[], outcome="skipped", skipped="no leader"),
               fault(3, "pause", 30, target="leader", nodes=["n1"], outcome="installed"),
               client(4, "invoke", "write", 40), client(5, "ok", "write", 50)]
    assert [f["f"] for f in availability(history)["failovers"]] == ["pause"]


def test_report_bands_carry_each_faults_outcome():
    from raft_jepsen.reports import perf_graphs
    from raft_jepsen.reports.perf import perf
    from raft_jepsen.reports.timeline import faults

    history = [fault(0, "kill", 1_000_000_000, target="leader", nodes=[], outcome="skipped", skipped="no leader"),
               fault(1, "start", 2_000_000_000, nodes=[], outcome="healed"),
               fault(2, "start-partition", 3_000_000_000, kind="halves", grudge={}, verified_ms=None),
               fault(3, "stop-partition", 4_000_000_000, outcome="healed")]
    found = faults(history)
    assert [(f.kind, f.outcome) for f in found] == [("kill", "skipped"), ("partition", "indeterminate")]
    assert found[0].describe() == "kill [skipped: no leader]"
    svg = perf_graphs.latency_svg(perf([], found, 5_000_000_000), found, [], 5_000_000_000)
    assert 'class="fault kill skipped"' in svg and 'class="fault partition indeterminate"' in svg


@pytest.mark.parametrize("flags,message", [
    ({"nemesis": "kill-leader"}, "cannot do nemesis kill-leader: it cannot name its leader"),
    ({"nemesis": "partition-leader-minority"}, "partition-leader-minority"),
    ({"nemesis": "pause", "nemesis-timing": "election"}, "cannot take --nemesis-timing election"),
    ({"nemesis": "partition-snapshot"}, "partition-snapshot"),
])
def test_a_raft_aware_fault_a_system_cannot_aim_is_refused_before_any_container_starts(tmp_path, flags, message):
    from raft_jepsen.harness.errors import UsageError

    program = tmp_path / "node.py"
    program.write_text("#!/usr/bin/env python3\nprint('hi')\n")
    program.chmod(0o755)
    with pytest.raises(UsageError, match=message):
        specs.build({"system": "maelstrom", "bin": str(program), **flags})


def test_an_unknown_timing_is_refused():
    from raft_jepsen.harness.errors import UsageError

    with pytest.raises(UsageError, match="nemesis-timing"):
        specs.build({"nemesis-timing": "sometimes"})


@pytest.mark.parametrize("seed", range(10))
def test_a_paused_old_leader_counts_on_the_side_without_a_working_majority(seed):
    """Under a timed fault the old leader is paused: `leader-minority` puts it with the new leader,
    `leader-majority` cuts it off with the minority, so the side promised a majority has one live."""
    cluster = FakeCluster(5)
    held = {"n1"}
    nemesis = PartitionNemesis(Net(cluster.nodes, port=PEER_PORT), ["leader-minority", "leader-majority"],
                               random.Random(seed), lambda: ["n2"], held=held)
    value = nemesis.invoke(op("start-partition")).value
    leader_side = {"n2"} | (set(NODES5) - {"n2"} - set(value["grudge"]["n2"]))
    other = set(NODES5) - leader_side
    majority_side = other if value["kind"] == "leader-minority" else leader_side
    assert len(majority_side - held) >= majority(5), value


def test_kill_follower_never_picks_the_paused_old_leader():
    for seed in range(10):
        assert resolve("follower", NODES5, random.Random(seed), lambda: ["n2"], held={"n1"}) != ["n1"]
        without = resolve("majority-without-leader", NODES5, random.Random(seed), lambda: ["n2"], held={"n1"})
        assert "n1" not in without and "n2" not in without
