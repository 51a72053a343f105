"""Liveness with deadlines (checkers.liveness) on synthetic histories: after the final heal, an
update and a read within the deadline; no long stretch without updates outside faults; no
election while a lone follower is cut off (pre-vote); and a run only slow is told apart from
one that lost data."""

from raft_jepsen.checkers import verdict
from raft_jepsen.checkers.liveness import Liveness, lone_node
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.roles import NodeStatus

S = 1_000_000_000


class H:
    """A history under construction, indexes in order."""

    def __init__(self):
        self.ops: list[Op] = []

    def op(self, process, f, t0, t1, type_="ok", value=1):
        self.ops.append(Op(index=len(self.ops), type="invoke", process=process, f=f, key="k", time=int(t0 * S),
                           value=None if f == "read" else value))
        self.ops.append(Op(index=len(self.ops), type=type_, process=process, f=f, key="k", time=int(t1 * S), value=value))

    def fault(self, f, t, value=None):
        self.ops.append(Op(index=len(self.ops), type="info", process="nemesis", f=f, time=int(t * S), value=value))


def steady(h: H, start: float, end: float, step: float = 0.5):
    t = start
    while t < end:
        h.op(0, "write", t, t + 0.05)
        h.op(1, "read", t + 0.1, t + 0.15)
        t += step


def test_a_cluster_live_after_the_heal_passes():
    h = H()
    steady(h, 0, 5)
    h.fault("start-partition", 5.0, {"grudge": {}})
    steady(h, 5.2, 8)
    h.fault("stop-partition", 8.0)
    h.op(2, "write", 8.1, 8.6)
    h.op(3, "read", 8.1, 8.7)
    result = Liveness(10).check(h.ops)
    assert result["valid"] is True and result["after_heal"] == {"heal_s": 8.0, "write_s": 0.6, "read_s": 0.7}


def test_a_liveness_deadline_missed_after_the_heal():
    h = H()
    steady(h, 0, 5)
    h.fault("start-partition", 5.0, {"grudge": {}})
    h.fault("stop-partition", 6.0)
    h.op(2, "write", 6.1, 9.1, "info")  # the probe: nothing succeeds within 2 s
    h.op(3, "read", 9.2, 9.5, "fail")
    result = Liveness(2).check(h.ops)
    assert result["valid"] is False and result["kind"] == "liveness"
    assert [f["check"] for f in result["failures"]] == ["after-heal", "after-heal", "write-gap"]
    assert result["failures"][0]["message"] == "no update succeeded within 2 s of the final heal at 6.0 s (none succeeded)"


def test_a_long_gap_without_updates_outside_faults():
    h = H()
    steady(h, 0, 2)
    h.op(5, "read", 2.0, 2.1)  # only reads succeed from 2 to 9 s, and no fault is in force
    steady(h, 9, 10)
    result = Liveness(5).check(h.ops)
    assert result["valid"] is False
    gap = result["longest_write_gap"]
    assert gap["length_s"] > 5 and [f["check"] for f in result["failures"]] == ["write-gap"]


def test_time_inside_a_fault_window_does_not_count():
    h = H()
    steady(h, 0, 2)
    h.fault("kill", 2.0, {"nodes": ["n1", "n2", "n3"]})
    h.fault("start", 9.0, {"nodes": ["n1", "n2", "n3"]})
    steady(h, 9.2, 10)
    h.op(2, "write", 10.1, 10.2)
    h.op(2, "read", 10.3, 10.4)
    result = Liveness(5).check(h.ops)
    assert result["valid"] is True and result["longest_write_gap"]["length_s"] < 1


def test_lone_node_of_a_partition_and_of_a_kill():
    cut = Op(index=0, type="info", process="nemesis", f="start-partition", time=0,
             value={"grudge": {"n3": ["n1", "n2", "n4"], "n1": ["n3"], "n2": ["n3"], "n4": ["n3"]}})
    halves = Op(index=0, type="info", process="nemesis", f="start-partition", time=0,
                value={"grudge": {"n1": ["n3", "n4"], "n2": ["n3", "n4"], "n3": ["n1", "n2"], "n4": ["n1", "n2"]}})
    kill = Op(index=0, type="info", process="nemesis", f="kill", time=0, value={"nodes": ["n2"]})
    assert (lone_node(cut), lone_node(halves), lone_node(kill)) == ("n3", None, "n2")


def _lone_cut(term_during: int) -> tuple[list[Op], list[NodeStatus]]:
    h = H()
    steady(h, 0, 3)
    h.fault("start-partition", 3.0, {"grudge": {"n3": ["n1", "n2"], "n1": ["n3"], "n2": ["n3"]}})
    steady(h, 3, 6)
    h.fault("stop-partition", 6.0)
    steady(h, 6, 12)
    statuses = []
    for tenth in range(0, 120, 3):
        t = int(tenth * S / 10)
        for n in ("n1", "n2"):
            term = term_during if 4 * S < t < 8 * S else 2
            leader = "n1" if term == 2 else "n2"
            statuses.append(NodeStatus(time=t, node=n, role="leader" if n == leader else "follower", term=term,
                                       leader=leader))
    return h.ops, statuses


def test_no_election_while_a_lone_follower_is_cut_off_with_pre_vote():
    ops, statuses = _lone_cut(term_during=2)
    result = Liveness(10, statuses=statuses, pre_vote=True).check(ops)
    assert result["valid"] is True and result["lone_faults"][0]["node"] == "n3"


def test_a_disruptive_election_while_a_lone_follower_is_cut_off():
    ops, statuses = _lone_cut(term_during=3)
    result = Liveness(10, statuses=statuses, pre_vote=True).check(ops)
    assert result["valid"] is False
    (f,) = result["failures"]
    assert f["check"] == "disruptive-election" and f["term"] == 3 and "left leader n1 of term 2" in f["message"]
    assert Liveness(10, statuses=statuses, pre_vote=False).check(ops)["valid"] is True  # no pre-vote: not held to it


def test_slow_but_safe_is_told_apart_from_data_lost():
    slow = {"linearizable": {"valid": True}, "liveness": {"valid": False}, "stats": {"valid": True}}
    lost = {"linearizable": {"valid": False}, "liveness": {"valid": False}}
    assert verdict.safety_and_liveness(slow) == {"safety": True, "liveness": False}
    assert verdict.liveness_only(slow) and not verdict.liveness_only(lost)
    assert verdict.safety_and_liveness({"linearizable": {"valid": True}}) == {"safety": True}


def test_elections_are_counted_from_the_role_changes():
    from raft_jepsen.harness.history.roles import RoleChange
    roles = [RoleChange(1, "n1", "candidate", 2), RoleChange(2, "n2", "candidate", 2),  # a split vote
             RoleChange(3, "n1", "candidate", 3), RoleChange(4, "n1", "leader", 3, "n1")]
    result = Liveness(10, roles=roles).check([])
    assert result["elections"] == {"terms_stood": 2, "terms_without_leader": 1, "terms_with_rivals": 1}


def _outage_under(f: str, stop: str, value: dict) -> list[Op]:
    """Updates fail from 2 s to 9 s while a fault `f` is in force from 2 s to 9 s."""
    h = H()
    steady(h, 0, 2)
    h.fault(f, 2.0, value)
    _failing(h, 2, 9)
    h.fault(stop, 9.0, {})
    steady(h, 9, 10)
    return h.ops


def _failing(h: H, start: float, end: float) -> None:
    t = start
    while t < end:
        h.op(6, "write", t, t + 0.4, "fail")
        t += 0.5


def test_a_slow_network_or_a_moved_clock_excuses_no_gap():
    # Every link slowed, or clocks moved, leaves a connected majority: a correct cluster keeps
    # committing, so 7 s without an update is a liveness failure, not the fault's doing.
    for f, stop, value in [("start-packet", "stop-packet", {"kind": "latency", "nodes": ["n1", "n2", "n3"]}),
                           ("start-clock", "stop-clock", {"kind": "bump", "nodes": ["n1"]})]:
        result = Liveness(5).check(_outage_under(f, stop, value))
        assert result["valid"] is False, f
        assert [x["check"] for x in result["failures"]] == ["write-gap"]
        assert result["longest_write_gap"]["from_s"] < 2.5 and result["longest_write_gap"]["to_s"] >= 8.5


def test_faults_that_cut_or_stop_nodes_excuse_their_window():
    for f, stop, value in [("start-partition", "stop-partition", {"grudge": {"n1": ["n2"], "n2": ["n1"]}}),
                           ("pause", "resume", {"nodes": ["n1", "n2", "n3"]}),
                           ("power-cut", "power-on", {"nodes": ["n1", "n2", "n3"]}),
                           ("start-membership", "stop-membership", {"removed": ["n2"]})]:
        result = Liveness(5).check(_outage_under(f, stop, value))
        assert result["valid"] is True, f


def test_a_skipped_fault_excuses_no_gap():
    # kill-leader with nobody leading hits no one: the outage it finds is not its doing.
    skipped = Liveness(5).check(_outage_under("kill", "start", {"target": "leader", "nodes": [], "skipped": "no leader"}))
    assert skipped["valid"] is False and [x["check"] for x in skipped["failures"]] == ["write-gap"]
    # A skipped move of a partition heals the partition before it: nothing is cut from then on.
    h = H()
    steady(h, 0, 2)
    h.fault("start-partition", 2.0, {"grudge": {"n1": ["n2"], "n2": ["n1"]}})
    h.fault("start-partition", 3.0, {"grudge": {}, "skipped": "no leader", "healed_previous": {"verified_ms": 40}})
    _failing(h, 2, 9)
    h.fault("stop-partition", 9.0, {})
    steady(h, 9, 10)
    moved = Liveness(5).check(h.ops)
    assert moved["valid"] is False and moved["longest_write_gap"]["from_s"] == 3.0
