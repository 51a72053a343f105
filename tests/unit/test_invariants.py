"""The Raft invariants (checkers.invariants) on synthetic node reports: each violation is named
with its nodes, term and time; a correct cluster's reports pass."""

from raft_jepsen.checkers.invariants import RaftInvariants
from raft_jepsen.harness.history.roles import Digest, NodeStatus, RoleChange

S = 1_000_000_000


def st(t, node, role="follower", term=1, leader="n1", commit=0, commit_term=None, last=None, started=1):
    return NodeStatus(time=int(t * S), node=node, role=role, term=term, leader=leader, commit_index=commit,
                      commit_term=commit_term, last_index=commit if last is None else last, started=started)


def healthy() -> list[NodeStatus]:
    return [st(0.3, "n1", "leader", 1, "n1", 3, 1), st(0.3, "n2", commit=3, commit_term=1),
            st(0.6, "n1", "leader", 1, "n1", 5, 1), st(0.6, "n2", commit=5, commit_term=1),
            st(1.0, "n2", "leader", 2, "n2", 6, 2, started=1), st(1.0, "n1", term=2, leader="n2", commit=6, commit_term=2)]


def test_a_correct_cluster_passes_every_invariant():
    roles = [RoleChange(int(0.1 * S), "n1", "leader", 1, "n1"), RoleChange(int(0.9 * S), "n2", "leader", 2, "n2")]
    result = RaftInvariants(roles=roles, statuses=healthy(), digests={"n1": Digest(6, "a"), "n2": Digest(6, "a")}).check([])
    assert result["valid"] is True and result["failures"] == []
    assert result["checked"] == {"role_changes": 2, "status_polls": 6, "terms": 2, "digests": 2}


def test_two_leaders_in_one_term_from_role_changes():
    roles = [RoleChange(int(1.0 * S), "n1", "leader", 4, "n1"), RoleChange(int(2.5 * S), "n3", "leader", 4, "n3")]
    result = RaftInvariants(roles=roles).check([])
    assert result["valid"] is False
    (f,) = result["failures"]
    assert (f["invariant"], f["nodes"], f["term"], f["time_s"]) == ("one-leader-per-term", ["n1", "n3"], 4, 2.5)
    assert result["message"].startswith("one-leader-per-term: two leaders in term 4: n1 (it said so at 1.0 s)")


def test_a_follower_of_another_leader_in_the_same_term_counts():
    """accept-stale-term: n3 follows the old leader n1 while at term 5, which n2 leads."""
    statuses = [st(1.0, "n2", "leader", 5, "n2"), st(1.3, "n3", "follower", 5, "n1")]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert f["nodes"] == ["n1", "n2"] and f["term"] == 5 and "n3 followed it" in f["message"]


def test_commit_index_backwards_within_one_process():
    statuses = [st(1.0, "n2", commit=9, commit_term=1), st(1.3, "n2", commit=4, commit_term=1)]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert (f["invariant"], f["nodes"], f["time_s"]) == ("commit-backwards", ["n2"], 1.3)
    assert "from 9 (at 1.0 s) to 4" in f["message"]


def test_commit_index_may_restart_from_the_snapshot_after_a_restart():
    statuses = [st(1.0, "n2", commit=9, commit_term=1, started=1), st(3.0, "n2", commit=0, started=2)]
    assert RaftInvariants(statuses=statuses).check([])["valid"] is True


def test_term_backwards_across_a_restart():
    statuses = [st(1.0, "n2", term=7, started=1), st(3.0, "n2", term=0, leader=None, started=2)]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert f["invariant"] == "term-backwards" and f["message"].endswith("across a restart")


def test_a_committed_entry_replaced_at_the_same_index():
    statuses = [st(1.0, "n1", "leader", 3, "n1", commit=12, commit_term=3),
                st(4.0, "n4", "leader", 4, "n4", commit=12, commit_term=4)]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert (f["invariant"], f["nodes"], f["term"], f["time_s"]) == ("committed-entry-replaced", ["n1", "n4"], 4, 4.0)


def test_committed_terms_falling_as_indexes_rise():
    statuses = [st(1.0, "n1", term=5, leader="n5", commit=10, commit_term=5),
                st(2.0, "n2", term=5, leader="n5", commit=11, commit_term=3)]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert f["invariant"] == "committed-entry-replaced" and "lower term 3" in f["message"]


def test_a_leader_missing_committed_entries():
    statuses = [st(1.0, "n1", "leader", 2, "n1", commit=20, commit_term=2),
                st(3.0, "n3", "leader", 3, "n3", commit=0, last=8)]
    (f,) = RaftInvariants(statuses=statuses).check([])["failures"]
    assert (f["invariant"], f["nodes"], f["term"]) == ("leader-incomplete", ["n1", "n3"], 3)


def test_digests_that_differ_are_part_of_the_invariants():
    result = RaftInvariants(statuses=healthy(), digests={"n1": Digest(6, "aa"), "n2": Digest(6, "bb")}).check([])
    assert result["valid"] is False and result["state"]["valid"] is False
    (f,) = result["failures"]
    assert f["invariant"] == "divergent-state" and f["nodes"] == ["n1", "n2"]


def test_nothing_said_is_unknown():
    assert RaftInvariants().check([])["valid"] == "unknown"


def test_committed_logs_that_differ_where_both_hold_entries():
    """no-truncate: n2 kept an entry of term 2 at index 5 that n1 holds, committed, in term 3."""
    from dataclasses import replace
    n1 = replace(st(1.0, "n1", "leader", 3, "n1", commit=8, commit_term=3), commit_terms=((1, 1), (4, 3)))
    n2 = replace(st(2.0, "n2", term=3, leader="n1", commit=7, commit_term=3), commit_terms=((1, 1), (4, 2), (6, 3)))
    (f,) = RaftInvariants(statuses=[n1, n2]).check([])["failures"]
    assert (f["invariant"], f["nodes"], f["time_s"]) == ("committed-entry-replaced", ["n1", "n2"], 2.0)
    assert f["message"].startswith("committed-entry-replaced: entry 4 is committed in term 3 on n1")


def test_committed_logs_that_agree_and_grow_pass():
    from dataclasses import replace
    reports = [replace(st(1.0, "n1", "leader", 3, "n1", commit=5, commit_term=3), commit_terms=((1, 1), (4, 3))),
               replace(st(1.5, "n2", term=3, leader="n1", commit=9, commit_term=3), commit_terms=((1, 1), (4, 3))),
               replace(st(2.0, "n3", term=4, leader="n3", commit=12, commit_term=4), commit_terms=((6, 3), (10, 4))),
               replace(st(2.5, "n1", term=4, leader="n3", commit=12, commit_term=4), commit_terms=((1, 1), (4, 3), (10, 4)))]
    assert RaftInvariants(statuses=reports).check([])["valid"] is True


def test_a_node_wiped_by_a_membership_change_may_start_again_from_term_0():
    from raft_jepsen.harness.history import Op
    statuses = [st(1.0, "n2", term=7, started=1), st(3.0, "n2", term=0, leader=None, started=2)]
    readded = Op(index=0, type="info", process="nemesis", f="stop-membership", time=2 * S,
                 value={"healed": ["n2"], "changes": []})
    assert RaftInvariants(statuses=statuses).check([readded])["valid"] is True
    assert RaftInvariants(statuses=statuses).check([])["valid"] is False
