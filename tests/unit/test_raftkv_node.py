"""The Raft core driven message by message, without processes or sockets.

A follower is fed exactly the AppendEntries and RequestVote messages a scenario needs (late,
stale, conflicting), which a live cluster produces only by chance. Each bug switch that lives in
a message handler is shown next to the correct behaviour it breaks.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "node_image"))

from raftkv.bugs import Bugs  # noqa: E402
from raftkv.node import Node, Options  # noqa: E402
from raftkv.storage import VolatileStorage  # noqa: E402

MEMBERS = {"n1": "127.0.0.1:1", "n2": "127.0.0.1:2", "n3": "127.0.0.1:3"}


class Wire:
    """Records what the node sends instead of sending it."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []

    def set_addr(self, peer: str, addr: str) -> None:
        pass

    def send(self, peer: str, msg: dict) -> None:
        self.sent.append((peer, msg))

    def replies(self, kind: str) -> list[dict]:
        return [m for _, m in self.sent if m["type"] == kind]


def entry(i, t, value):
    return {"i": i, "t": t, "k": "cmd", "c": {"op": "write", "key": "k", "value": value}}


def append(term, prev, prev_term, entries, commit, sender="n1"):
    return {"type": "append", "from": sender, "term": term, "prev_index": prev,
            "prev_term": prev_term, "entries": entries, "commit": commit, "ctx": 0}


def run(scenario, bugs=()):
    """Run `scenario(node, wire)` against follower n3 on a fresh loop; return its result."""
    async def main():
        wire = Wire()
        node = Node(Options(id="n3", peers=MEMBERS, election_timeout=60, bugs=Bugs.parse(bugs)),
                    VolatileStorage(), wire)
        result = scenario(node, wire)
        if asyncio.iscoroutine(result):
            result = await result
        await asyncio.sleep(0)  # let the group commit send the replies
        return result, node, wire
    return asyncio.run(main())


def log_of(node: Node) -> list[tuple[int, int]]:
    return [(e["i"], e["t"]) for e in node.log.entries]


def late_append(node, wire):
    node.handle(append(1, 0, 0, [entry(i, 1, i) for i in range(1, 6)], commit=5))
    # A retransmission of entry 3 that arrives after entries 4 and 5 were committed.
    node.handle(append(1, 2, 1, [entry(3, 1, 3)], commit=5))


def test_late_append_leaves_a_matching_log_alone():
    _, node, wire = run(late_append)
    assert log_of(node) == [(i, 1) for i in range(1, 6)]
    assert [r["match"] for r in wire.replies("append_reply")] == [5, 3]


def test_truncate_on_match_bug_drops_committed_entries_on_a_late_append():
    _, node, _ = run(late_append, bugs=["truncate-on-match"])
    assert log_of(node) == [(1, 1), (2, 1), (3, 1)]
    assert node.commit == 5  # entries 4 and 5 were committed, and are gone


def conflicting_suffix(node, wire):
    node.handle(append(1, 0, 0, [entry(1, 1, "a"), entry(2, 1, "uncommitted")], commit=1))
    # The leader of term 2 never had index 2 of term 1: it overwrites it and commits its own.
    node.handle(append(2, 1, 1, [entry(2, 2, "b"), entry(3, 2, "c")], commit=3, sender="n2"))


def test_conflicting_suffix_is_replaced_by_the_leaders_entries():
    _, node, _ = run(conflicting_suffix)
    assert log_of(node) == [(1, 1), (2, 2), (3, 2)]
    assert node.sm.read("k") == "c"


def test_no_truncate_bug_keeps_a_conflicting_entry_and_diverges():
    _, node, _ = run(conflicting_suffix, bugs=["no-truncate"])
    assert log_of(node) == [(1, 1), (2, 1), (3, 2)]
    assert [e["c"]["value"] for e in node.log.entries] == ["a", "uncommitted", "c"]


def stale_leader(node, wire):
    node.handle(append(3, 0, 0, [entry(1, 1, "a"), entry(2, 3, "committed")], commit=2, sender="n2"))
    # The deposed leader of term 1 still sends what it had at index 2.
    node.handle(append(1, 1, 1, [entry(2, 1, "stale")], commit=1))


def test_append_from_an_older_term_is_rejected():
    _, node, wire = run(stale_leader)
    assert log_of(node) == [(1, 1), (2, 3)]
    rejection = [m for peer, m in wire.sent if peer == "n1"][-1]
    assert (rejection["success"], rejection["term"]) == (False, 3)
    assert node.leader == "n2"


def test_accept_stale_term_bug_lets_a_deposed_leader_overwrite_committed_entries():
    _, node, _ = run(stale_leader, bugs=["accept-stale-term"])
    assert log_of(node) == [(1, 1), (2, 1)]
    assert node.leader == "n1" and node.commit == 2


def vote_from_a_shorter_log(node, wire):
    node.handle(append(1, 0, 0, [entry(1, 1, "a"), entry(2, 1, "b")], commit=2))
    node.leader = None  # the leader is gone: no lease protects it any more
    node.handle({"type": "vote", "from": "n2", "term": 2, "pre": False, "transfer": False,
                 "last_index": 1, "last_term": 1})
    return wire.replies("vote_reply")[-1]["granted"]


def test_vote_is_refused_to_a_candidate_missing_entries():
    granted, node, _ = run(vote_from_a_shorter_log)
    assert granted is False and node.voted_for is None


def test_vote_ignores_log_bug_votes_for_a_candidate_missing_entries():
    granted, node, _ = run(vote_from_a_shorter_log, bugs=["vote-ignores-log"])
    assert granted is True and node.voted_for == "n2"


def test_follower_in_contact_with_its_leader_ignores_a_disruptive_candidate():
    def scenario(node, wire):
        node.handle(append(1, 0, 0, [entry(1, 1, "a")], commit=1))
        node.handle({"type": "vote", "from": "n2", "term": 5, "pre": False, "transfer": False,
                     "last_index": 1, "last_term": 1})
        return wire.replies("vote_reply")[-1]
    reply, node, _ = run(scenario)
    assert reply["granted"] is False and node.term == 1 and node.leader == "n1"


def test_a_fresh_machine_that_knows_no_configuration_grants_no_vote():
    """A member wiped and re-added under its name forgets the vote it cast in the current term; a
    stale candidate of that term must not get a second one from it (two leaders in one term)."""
    async def main():
        wire = Wire()
        node = Node(Options(id="n3", peers=MEMBERS, election_timeout=60, join=True), VolatileStorage(), wire)
        for pre in (True, False):
            node.handle({"type": "vote", "from": "n2", "term": 19, "pre": pre, "transfer": False,
                         "last_index": 0, "last_term": 0})
        return node, wire
    node, wire = asyncio.run(main())
    assert [r["granted"] for r in wire.replies("vote_reply")] == [False, False]
    assert node.voted_for is None


def test_a_follower_of_a_terms_leader_votes_for_no_one_else_in_that_term():
    def scenario(node, wire):
        node.handle(append(4, 0, 0, [entry(1, 4, "a")], commit=1))
        node.leader = None  # the leader is gone: no lease protects it any more
        node.handle({"type": "vote", "from": "n2", "term": 4, "pre": False, "transfer": False,
                     "last_index": 1, "last_term": 4})
        return wire.replies("vote_reply")[-1]
    reply, node, _ = run(scenario)
    assert reply["granted"] is False and node.voted_for == "n1"


async def figure_8(node, wire):
    """Raft figure 8: n3 holds index 2 from term 2 and becomes leader of term 3 (its no-op, when
    it appends one, is index 3); n2 then reports that it holds index 2. Index 2 is on a majority
    but is from an earlier term: a later leader may still overwrite it."""
    node.handle(append(2, 0, 0, [entry(1, 1, "a"), entry(2, 2, "b")], commit=1))
    node.handle({"type": "timeout_now", "from": "n1", "term": 2})
    node.handle({"type": "vote_reply", "from": "n2", "term": 3, "pre": False, "granted": True})
    assert node.role == "leader"
    await asyncio.sleep(0)  # the leader's own fsync (of its no-op)
    node.handle({"type": "append_reply", "from": "n2", "term": 3, "success": True, "match": 2,
                 "ctx": 0})
    return node.commit


def test_leader_does_not_commit_an_earlier_terms_entry_by_counting_replicas():
    commit, _, _ = run(figure_8)
    assert commit == 1


def test_commit_prior_term_bug_commits_an_earlier_terms_entry_by_counting_replicas():
    # As in the reference design (EventStreamCore's becomeLeader), a new leader appends no no-op:
    # its log ends in the earlier term, so nothing of its own term is there to commit first.
    commit, node, _ = run(figure_8, bugs=["commit-prior-term"])
    assert commit == 2 and node.log.last_term == 2


def test_a_correct_leader_starts_its_term_with_a_no_op():
    _, node, _ = run(figure_8)
    assert node.log.last_term == 3 and node.log.entry(3)["k"] == "noop"


def test_rejection_carries_the_conflicting_term_and_its_first_index():
    def scenario(node, wire):
        node.handle(append(2, 0, 0, [entry(1, 1, "a"), entry(2, 2, "b"), entry(3, 2, "c")], commit=1))
        node.handle(append(3, 3, 3, [], commit=1, sender="n2"))
    _, _, wire = run(scenario)
    reply = wire.replies("append_reply")[-1]
    assert (reply["success"], reply["hint_term"], reply["hint_index"]) == (False, 2, 2)


def footprints(capsys, event):
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if f'"event":"{event}"' in line]


@pytest.mark.parametrize("bug,scenario,event", [
    ("no-truncate", conflicting_suffix, "conflicting-entries-kept"),
    ("accept-stale-term", stale_leader, "stale-term-append-accepted"),
    ("commit-prior-term", figure_8, "prior-term-committed-by-count"),
])
def test_a_never_found_switch_logs_its_footprint_and_correct_raftkv_never_does(capsys, bug, scenario, event):
    # The node log's evidence of whether the flaw's window opened in a run (bench/detect.py).
    run(scenario)
    assert not footprints(capsys, event)
    run(scenario, bugs=[bug])
    assert footprints(capsys, event)
