"""etcd's SystemKind and adapter without containers: its command line, member IDs, the leader lane
read from raft's own log lines, and what a spec may ask of it."""

from __future__ import annotations

import json

import pytest

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import systems
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems import etcd
from raft_jepsen.harness.systems.base import (
    HasDigests,
    HasLogs,
    HasMembership,
    HasPrimaries,
    HasRoleLog,
    HasStatus,
    Killable,
    Pausable,
)

NODES = [Node(name=f"n{i}", ip=f"10.0.0.{i}", client_addr=("127.0.0.1", 20000 + i), remote=None) for i in (1, 2, 3)]


def adapter(**options) -> etcd.Etcd:
    return systems.make(systems.get("etcd"), NODES, options={k: str(v) for k, v in options.items()})


def test_the_kind_has_every_ability_and_says_the_clock_faults_cannot_reach_it():
    kind = systems.get("etcd")
    for ability in (Killable, Pausable, HasPrimaries, HasStatus, HasLogs, HasRoleLog, HasDigests, HasMembership):
        assert kind.can(ability), ability
    assert kind.clock_via_libc is False and kind.data_dirs == (etcd.DATA_DIR,)
    assert set(kind.workloads) == {"register", "kv", "append", "set"}


def test_member_ids_are_etcds():
    """Seen from etcd 3.4.23 itself: peer URL http://127.0.0.1:2380, token t1 → 9b472c7096ce5b18."""
    assert etcd.member_id("http://127.0.0.1:2380", "t1") == 0x9B472C7096CE5B18


def test_the_command_line_is_a_static_cluster_with_a_token_of_its_own_and_the_same_at_every_start():
    a, b = adapter(), adapter()
    cmd = a.command(NODES[1])
    flags = dict(zip(cmd[1::2], cmd[2::2]))
    assert flags["--initial-cluster"] == "n1=http://10.0.0.1:2380,n2=http://10.0.0.2:2380,n3=http://10.0.0.3:2380"
    assert flags["--initial-advertise-peer-urls"] == "http://10.0.0.2:2380"
    assert flags["--initial-cluster-state"] == "new"
    assert (flags["--heartbeat-interval"], flags["--election-timeout"]) == ("200", "2000")
    assert flags["--data-dir"].startswith(etcd.DATA_DIR + "/")
    assert a.command(NODES[1]) == cmd
    assert flags["--initial-cluster-token"] != dict(zip(*[iter(b.command(NODES[1])[1:])] * 2))["--initial-cluster-token"]


def test_the_election_timeout_option_sets_the_heartbeat_to_a_tenth():
    cmd = adapter(**{"election-ms": "500"}).command(NODES[0])
    flags = dict(zip(cmd[1::2], cmd[2::2]))
    assert (flags["--heartbeat-interval"], flags["--election-timeout"]) == ("50", "500")


def test_pre_vote_is_on_unless_asked_off_as_from_etcd_3_5():
    """3.5 turned --pre-vote on by default; 3.4's off is still there with pre-vote=false, and the
    liveness checker is told which (it holds a pre-voting system to a lone cut-off follower not
    disrupting the others)."""
    kind = systems.get("etcd")
    assert "--pre-vote=true" in adapter().command(NODES[0])
    assert "--pre-vote=false" in adapter(**{"pre-vote": "false"}).command(NODES[0])
    assert kind.parse_options({})["pre-vote"] is True
    assert kind.pre_votes(kind.parse_options({})) is True
    assert kind.pre_votes(kind.parse_options({"pre-vote": "false"})) is False


@pytest.mark.parametrize("options, message", [
    ({"reads": "stale"}, "reads: expected one of linearizable, serializable"),
    ({"election-ms": "10"}, "election-ms: expected milliseconds from 50 to 50000"),
    ({"snapshot-count": "0"}, "snapshot-count: expected a positive integer"),
])
def test_bad_options_are_refused_before_anything_starts(options, message):
    with pytest.raises(ValueError, match=message):
        systems.get("etcd").parse_options(options)


def test_clock_faults_are_refused_up_front():
    with pytest.raises(UsageError, match="clock"):
        specs.build(flags={"system": "etcd", "nemesis": "clock"})


def zap(ts: str, msg: str) -> str:
    return json.dumps({"level": "info", "ts": ts, "caller": "raft/raft.go:1", "msg": msg})


def test_role_changes_come_from_raft_log_lines_with_leaders_named():
    a = adapter()
    ids = {name: f"{i:x}" for i, name in a.ids.items()}
    lines = [
        zap("2026-12-07T01:44:05.803Z", f"{ids['n2']} became follower at term 1"),
        zap("2026-12-07T01:44:05.900Z", "peer became active"),
        "torn {\"level\"",
        zap("2026-12-07T01:44:06.552Z", f"raft.node: {ids['n2']} elected leader {ids['n1']} at term 2"),
        zap("2026-12-07T01:44:07.000Z", f"{ids['n2']} became pre-candidate at term 2"),
        zap("2026-12-07T01:44:07.100Z", f"raft.node: {ids['n2']} lost leader {ids['n1']} at term 2"),
        zap("2026-12-07T01:44:07.500Z", f"{ids['n2']} became leader at term 3"),
        zap("2026-12-07T01:44:07.501Z", f"raft.node: {ids['n2']} elected leader {ids['n2']} at term 3"),
    ]
    changes = list(a.role_changes("n2", lines))
    assert [(c.role, c.term, c.leader) for c in changes] == [
        ("follower", 1, None), ("follower", 2, "n1"), ("pre-candidate", 2, None), ("follower", 2, None),
        ("leader", 3, "n2")]
    assert changes[0].time == 1796607845803000000
    assert all(c.node == "n2" for c in changes)


def test_status_claims_no_term_and_primaries_rank_by_the_applied_term(monkeypatch):
    # etcd 3.4's raftTerm is the term of the last applied entry: a follower that has not yet
    # applied the new leader's first entry names the new leader with the old term. Pairing them
    # made correct etcd look like it had two leaders in one term.
    system = adapter()
    ids = {name: member_id for member_id, name in system.ids.items()}
    said = {"n1": ("n1", 2), "n2": ("n3", 2), "n3": ("n3", 3)}  # node -> (the leader it names, raftTerm)

    def ask(node, path, body=None, timeout=1.0):
        leader, term = said[node.name]
        return {"header": {"member_id": str(ids[node.name])}, "leader": str(ids[leader]), "raftTerm": str(term)}

    monkeypatch.setattr(etcd, "ask", ask)
    statuses = [system.status(n) for n in NODES]
    assert [(s.role, s.term, s.leader) for s in statuses] == [("leader", None, "n1"), ("follower", None, "n3"),
                                                              ("leader", None, "n3")]
    assert system.primaries(NODES) == ["n3"]  # n1 still believes it leads, at an older applied term


def test_a_membership_change_that_etcd_dropped_is_read_back_and_proposed_again(monkeypatch):
    # etcd's raft drops a conf change proposed while another is unapplied (a new leader's whole
    # log counts): the request then only times out. The member list tells, and it is sent again.
    system = adapter()
    n3 = NODES[2]
    listed = [{"ID": "1", "peerURLs": [etcd.peer_url(NODES[0])]}, {"ID": "2", "peerURLs": [etcd.peer_url(NODES[1])]}]
    sent = []

    def change(via, path, body):
        sent.append(path)
        if len(sent) == 1:
            raise etcd.EnvironmentProblem(f"{via.name}: add outcome unknown: timeout")
        return {"member": {"ID": "3"}, "members": [*listed, {"ID": "3", "peerURLs": [etcd.peer_url(n3)]}]}

    monkeypatch.setattr(system, "_change", change)
    monkeypatch.setattr(system, "_member_list", lambda nodes: listed)  # the first add did not happen
    monkeypatch.setattr(system, "_via", lambda nodes, besides=None: NODES[0])
    reply = system._settle(NODES, n3, "/v3/cluster/member/add", {"peerURLs": [etcd.peer_url(n3)]}, present=True)
    assert sent == ["/v3/cluster/member/add"] * 2 and reply["member"]["ID"] == "3"

    # ... and one that happened after all is not sent again.
    sent.clear()
    monkeypatch.setattr(system, "_member_list", lambda nodes: [*listed, {"ID": "3", "peerURLs": [etcd.peer_url(n3)]}])
    reply = system._settle(NODES, n3, "/v3/cluster/member/add", {"peerURLs": [etcd.peer_url(n3)]}, present=True)
    assert sent == ["/v3/cluster/member/add"] and reply["member"]["ID"] == "3"
