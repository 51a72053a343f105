"""The membership fault over a fake system: the churn's changes, what it records, the heal."""

import random
import threading
import time

import pytest

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.membership import RESTORE, START, STOP, MembershipNemesis, most_removable
from raft_jepsen.harness.systems.base import HasMembership
from tests.unit.fake_nodes import FakeCluster


def op(f):
    return Op(index=0, type="info", process="nemesis", f=f)


class Members:
    """HasMembership in memory: a configuration, changed one server at a time under a lock, with
    the largest number of changes seen in progress at once."""

    def __init__(self, names, fail_add=()):
        self.config = set(names)
        self.lock = threading.Lock()
        self.busy = 0
        self.most_at_once = 0
        self.calls = []
        self.fail_add = set(fail_add)

    def setup(self, node):
        pass

    def teardown(self, node):
        pass

    def client(self, node):
        raise NotImplementedError

    def members(self, nodes):
        with self.lock:
            return sorted(self.config)

    def _step(self, what, name, change):
        with self.lock:
            self.busy += 1
            self.most_at_once = max(self.most_at_once, self.busy)
            self.calls.append((what, name))
        time.sleep(0.01)
        with self.lock:
            self.busy -= 1
            change()

    def remove_member(self, nodes, node):
        self._step("remove", node.name, lambda: self.config.discard(node.name))

    def add_member(self, nodes, node):
        if node.name in self.fail_add:
            raise EnvironmentProblem(f"{node.name} would not join")
        self._step("add", node.name, lambda: self.config.add(node.name))


def churn(n=5, run_s=0.3, seed=0, **kw):
    cluster = FakeCluster(n)
    system = Members([node.name for node in cluster.nodes], **kw)
    nemesis = MembershipNemesis(system, cluster.nodes, random.Random(seed), pause_s=0.02)
    started = nemesis.invoke(op(START)).value
    time.sleep(run_s)
    return system, nemesis, started


def test_the_fake_has_the_ability():
    assert isinstance(Members([]), HasMembership)


def test_churn_removes_and_adds_back_and_the_restore_brings_the_original_membership_back():
    system, nemesis, started = churn()
    assert started["members"] == started["original"] == ["n1", "n2", "n3", "n4", "n5"]
    stopped = nemesis.invoke(op(STOP)).value
    value = nemesis.invoke(op(RESTORE)).value
    changes = stopped["changes"] + value["changes"]
    assert len(changes) >= 4 and {c["outcome"] for c in changes} == {"installed"}
    removals = [c for c in changes if "remove" in c]
    adds = [c for c in changes if "add" in c]
    assert removals and adds
    # each change's read-back shows it: removed nodes out, added ones in
    assert all(not set(c["remove"]) & set(c["members"]) for c in removals)
    assert all(set(c["add"]) <= set(c["members"]) for c in adds)
    # never below three voters of five, and at most two removed at once
    assert all(1 <= len(c["remove"]) <= 2 and len(c["members"]) >= 3 for c in removals)
    assert value["members"] == ["n1", "n2", "n3", "n4", "n5"] and value["committed"] is True
    assert system.config == {"n1", "n2", "n3", "n4", "n5"}


def test_a_stop_returns_while_a_change_is_still_in_flight_and_the_churn_adds_back_after():
    # An add that cannot finish (its member behind a partition) must not hold the nemesis thread.
    cluster = FakeCluster(5)
    system = Members([n.name for n in cluster.nodes])
    gate = threading.Event()
    adding = threading.Event()
    real_add = system.add_member

    def blocked_add(nodes, node):
        adding.set()
        gate.wait()
        real_add(nodes, node)

    system.add_member = blocked_add
    nemesis = MembershipNemesis(system, cluster.nodes, random.Random(0), pause_s=0.0)
    nemesis.invoke(op(START))
    assert adding.wait(5)
    value = nemesis.invoke(op(STOP)).value  # returns with the add still blocked
    assert value["out"] and nemesis._thread.is_alive()
    gate.set()
    nemesis._thread.join(5)
    assert system.config == {"n1", "n2", "n3", "n4", "n5"} and not nemesis.out
    nemesis.invoke(op(RESTORE))


def test_changes_asked_for_together_reach_the_system_together():
    # A correct system serializes them itself; the nemesis must not, or it could never show a
    # system that stacks them.
    system, nemesis, _ = churn(run_s=0.5)
    nemesis.invoke(op(RESTORE))
    assert system.most_at_once == 2


def test_a_heal_that_fails_is_recorded_as_indeterminate_and_teardown_fails_the_run():
    system, nemesis, _ = churn(fail_add=["n1", "n2", "n3", "n4", "n5"])
    nemesis._final.set()  # no background restore attempts: the final heal meets the failure
    value = nemesis.invoke(op(RESTORE)).value
    assert value["outcome"] == "indeterminate" and "would not join" in value["error"]
    assert any("remove" in c for c in value["changes"])  # what was done is still on record
    with pytest.raises(EnvironmentProblem, match="would not join"):
        nemesis.teardown()
    system.fail_add.clear()
    nemesis.teardown()  # once the system lets it, the heal completes
    assert system.config == {"n1", "n2", "n3", "n4", "n5"}


def test_indeterminate_changes_are_recorded_with_their_error():
    cluster = FakeCluster(5)
    system = Members([n.name for n in cluster.nodes], fail_add=["n3"])
    nemesis = MembershipNemesis(system, cluster.nodes, random.Random(0), pause_s=0.0)
    nemesis._started = nemesis.clock()
    system.config.discard("n3")
    nemesis.out.add("n3")
    nemesis._change("add", ["n3"])
    record = nemesis.changes[-1]
    assert record["outcome"] == "indeterminate" and "would not join" in record["error"]
    assert "n3" not in record["members"] and nemesis.out == {"n3"}


def test_teardown_heals_even_without_a_stop_and_is_safe_twice():
    system, nemesis, _ = churn()
    nemesis.teardown()
    nemesis.teardown()
    assert system.config == {"n1", "n2", "n3", "n4", "n5"}


def test_a_second_start_while_churning_is_skipped():
    _, nemesis, _ = churn(run_s=0.05)
    assert nemesis.invoke(op(START)).value["skipped"]
    nemesis.invoke(op(RESTORE))


def test_the_same_seed_draws_the_same_first_removal():
    firsts = []
    for _ in range(2):
        system, nemesis, _ = churn(run_s=0.05, seed=7)
        nemesis.invoke(op(RESTORE))
        firsts.append(sorted(name for what, name in system.calls[:2] if what == "remove"))
    assert firsts[0] == firsts[1] and firsts[0]


@pytest.mark.parametrize("n,most", [(3, 1), (4, 1), (5, 2), (7, 4)])
def test_how_many_members_may_go_at_once(n, most):
    assert most_removable(n) == most


def test_a_system_without_the_ability_or_too_few_nodes_is_refused():
    cluster = FakeCluster(5)
    with pytest.raises(UsageError, match="cannot change its membership"):
        MembershipNemesis(object(), cluster.nodes, random.Random(0))
    small = FakeCluster(2)
    with pytest.raises(UsageError, match="at least 3 nodes"):
        MembershipNemesis(Members(["n1", "n2"]), small.nodes, random.Random(0))


def test_removals_are_mostly_pairs_of_followers_when_the_leader_is_known():
    cluster = FakeCluster(5)
    system = Members([n.name for n in cluster.nodes])
    nemesis = MembershipNemesis(system, cluster.nodes, random.Random(1), primaries=lambda: ["n1"], pause_s=0.0)
    draws = [nemesis._draw_removal() for _ in range(200)]
    assert sum(len(d) == 2 for d in draws) > 140
    assert sum("n1" in d for d in draws) < 40  # a random pair would hold it 80 times in 200


def test_the_final_heal_is_restore_and_the_report_ends_the_band_with_it():
    from raft_jepsen.harness.history.faults import FINAL_HEALS
    from raft_jepsen.reports.timeline import faults
    from tests.unit.test_nemesis import build

    _, _, pkg = build(["membership", "partition"])
    assert pkg.final[-1] == "restore-membership" and pkg.background == (("start-membership", "stop-membership"),)
    assert FINAL_HEALS["restore-membership"] == "start-membership"
    history = [Op(index=0, type="info", process="nemesis", f="start-membership", time=1),
               Op(index=1, type="info", process="nemesis", f="restore-membership", time=5)]
    (band,) = faults(history)
    assert (band.kind, band.start, band.stop) == ("membership", 1, 5)


def test_a_stop_while_members_cannot_be_added_leaves_the_restore_to_finish_the_job():
    system, nemesis, _ = churn(fail_add=["n1", "n2", "n3", "n4", "n5"])
    assert nemesis.invoke(op(STOP)).value["out"]
    system.fail_add.clear()
    value = nemesis.invoke(op(RESTORE)).value
    assert value["members"] == ["n1", "n2", "n3", "n4", "n5"] and system.config == set(value["members"])


def test_a_start_without_a_leader_churns_all_the_same_and_says_so():
    cluster = FakeCluster(5)
    system = Members([n.name for n in cluster.nodes])
    nemesis = MembershipNemesis(system, cluster.nodes, random.Random(0), pause_s=0.01)
    real = system.members
    system.members = lambda nodes: (_ for _ in ()).throw(EnvironmentProblem("no leader"))
    value = nemesis.invoke(op(START)).value
    assert value["members"] is None and value["error"] == "no leader"
    system.members = real
    time.sleep(0.1)
    assert nemesis.invoke(op(RESTORE)).value["changes"]
