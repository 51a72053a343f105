"""Each --bug switch, shown doing the damage it is there for, on a cluster of local processes.

The switches that live inside one message handler are shown message by message in
test_raftkv_node.py instead (truncate-on-match, no-truncate, accept-stale-term, commit-prior-term
as Raft's figure 8; vote-ignores-log there too), and the quorum arithmetic in
test_raftkv_storage.py. Where a scenario could pass by luck, it runs with and without the switch.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .raftkv_cluster import LocalCluster

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]  # local node processes, real time


def write_everywhere(c: LocalCluster, key: str, value) -> None:
    """Write, then wait until every node has applied it (acknowledged is not enough under some
    switches)."""
    c.write(key, value)
    c.wait_for(lambda: all(c.call(n, "inspect")["data"].get(key) == value for n in c.running()),
               what=f"every node to apply {key}={value}")


def test_unknown_bug_switch_is_refused_in_one_line(tmp_path):
    with LocalCluster(tmp_path, 1, start=False) as c:
        c.nodes["n1"].args += ["--bug", "no-such-bug"]
        with pytest.raises(RuntimeError) as failed:
            c.start("n1")
    assert c.nodes["n1"].log.read_text().count("\n") == 1
    assert "unknown bug switch 'no-such-bug'" in str(failed.value)


@pytest.mark.parametrize("bug", ["ack-before-commit", "optimistic-match", None])
def test_isolated_leader_acknowledges_a_write_no_majority_holds(tmp_path, bug):
    with LocalCluster(tmp_path, 3, bugs=[bug] if bug else []) as c:
        write_everywhere(c, "k", "committed")
        old = c.wait_leader()
        c.isolate(old)
        reply = c.call(old, "write", key="k", value="lost")
        rest = [n for n in c.nodes if n != old]
        if bug is None:
            assert not reply["ok"] and reply["definite"] is False  # timeout or lost-leadership
        else:
            assert reply["ok"]
        assert c.read("k", among=rest) == "committed"  # an acknowledged write is lost if ok


def test_stale_read_answers_from_a_partitioned_old_leader(tmp_path):
    # Without check-quorum the cut-off leader still leads after the others elected a new one.
    with LocalCluster(tmp_path, 3, bugs=["stale-read"]) as c:
        write_everywhere(c, "k", "old")
        old = c.wait_leader()
        c.isolate(old)
        c.write("k", "new", among=[n for n in c.nodes if n != old])
        assert c.status(old)["role"] == "leader"
        reply = c.call(old, "read", key="k")
        assert reply == {"id": reply["id"], "ok": True, "value": "old"}


def test_vote_ignores_log_elects_a_node_missing_committed_writes(tmp_path):
    # n3 campaigns every 40-80 ms; n2 waits 3 s: once n2's lease on the dead leader expires,
    # n3, which missed the writes, asks first. (n2 may still time out first, rarely: retry.)
    for attempt in range(2):
        with LocalCluster(tmp_path / str(attempt), 3, bugs=["vote-ignores-log"],
                          node_args={"n2": ["--election-timeout-ms", "3000"],
                                     "n3": ["--election-timeout-ms", "40", "--heartbeat-ms", "15"]}) as c:
            c.wait_for(lambda: c.call(c.wait_leader(), "transfer", value="n1")["ok"],
                       what="transfer")
            c.isolate("n3")
            c.write("k", "acknowledged", among=["n1", "n2"])
            c.kill("n1")
            c.heal()
            if c.wait_leader(among=["n2", "n3"]) != "n3":
                continue
            assert c.read("k", among=["n2", "n3"]) is None
            return
    pytest.fail("n3 never won the election")


def test_self_elect_makes_an_isolated_node_leader_beside_the_real_one(tmp_path):
    with LocalCluster(tmp_path, 3, bugs=["self-elect"]) as c:
        leader = c.wait_leader()
        loner = next(n for n in c.nodes if n != leader)
        c.isolate(loner)
        rest = [n for n in c.nodes if n != loner]
        c.wait_for(lambda: c.leaders([loner]) and c.leaders(rest), what="two leaders")
        assert not c.events(loner, "election")  # it never asked anyone for a vote


def test_even_majority_elects_a_leader_on_each_side_of_a_two_two_split(tmp_path):
    with LocalCluster(tmp_path, 4, bugs=["even-majority"]) as c:
        c.write("k", 1)
        for side, other in ((["n1", "n2"], ["n3", "n4"]), (["n3", "n4"], ["n1", "n2"])):
            for name in side:
                c.call(name, "drop", value=other)
        c.wait_for(lambda: c.leaders(["n1", "n2"]) and c.leaders(["n3", "n4"]), what="two leaders")


@pytest.mark.parametrize("bug", ["fixed-timeout", None])
def test_fixed_timeout_gives_every_node_the_same_election_timeout(tmp_path, bug):
    with LocalCluster(tmp_path, 3, bugs=[bug] if bug else []) as c:
        c.wait_leader()
        drawn = {c.status(n)["election_timeout_ms"] for _ in range(3) for n in c.nodes}
        if bug:
            assert drawn == {200.0}
        else:
            assert len(drawn) > 1 and all(200 <= t < 400 for t in drawn)


def test_volatile_state_forgets_acknowledged_writes_on_restart(tmp_path):
    with LocalCluster(tmp_path, 3, bugs=["volatile-state"]) as c:
        c.write("k", "acknowledged")
        for name in list(c.nodes):
            c.kill(name)
        for name in list(c.nodes):
            c.start(name)
        assert c.read("k") is None
        assert all("k" not in c.call(n, "inspect")["data"] for n in c.nodes)


def test_duplicate_apply_applies_a_retried_command_twice(tmp_path):
    with LocalCluster(tmp_path, 3, bugs=["duplicate-apply"]) as c:
        leader = c.wait_leader()
        c.call(leader, "append", key="l", value="x", client="c1", seq=1)
        retry = c.call(leader, "append", key="l", value="x", client="c1", seq=1)
        assert retry["value"] == ["x", "x"]


@pytest.mark.parametrize("bug", ["lazy-fsync", None])
def test_lazy_fsync_loses_an_acknowledged_write_at_a_power_cut(tmp_path, bug):
    # A single node: the write is acknowledged once "durable" on it; kill -9 right after the
    # acknowledgement, with the page cache simulated, is a power cut. The background fsync
    # runs every 100 ms and may win the race now and then: a few rounds.
    with LocalCluster(tmp_path, 1, bugs=[bug] if bug else [],
                      extra_args=["--simulate-page-cache"]) as c:
        lost = []
        for i in range(5):
            c.call(c.wait_leader(), "write", key="k", value=i)
            c.kill("n1")
            c.start("n1")
            if c.read("k") != i:
                lost.append(i)
        if bug:
            assert lost
        else:
            assert lost == []


def test_simulated_power_cut_keeps_every_acknowledged_write_of_a_correct_cluster(tmp_path):
    with LocalCluster(tmp_path, 3, extra_args=["--simulate-page-cache"]) as c:
        for i in range(10):
            c.write("k", i)
        for name in list(c.nodes):
            c.kill(name)
        for name in list(c.nodes):
            c.start(name)
        assert c.read("k") == 9


FAKETIME_LIB = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"), Path("libfaketimeMT.so.1"))


@pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="libfaketime is not installed (.ci/run installs it)")
@pytest.mark.parametrize("bug, jump", [("lease-read", True), ("lease-read", False), (None, True)])
def test_lease_read_answers_stale_only_when_the_leaders_clock_jumps_back(tmp_path, bug, jump):
    # Every node's wall clock reads one file, as the clock fault arranges it; only the leader's
    # matters, since elections run on the monotonic clock.
    clock = tmp_path / "clock"
    clock.write_text("+0\n")
    env = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME_TIMESTAMP_FILE": str(clock), "FAKETIME_NO_CACHE": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    with LocalCluster(tmp_path, 3, bugs=[bug] if bug else [], env=env) as c:
        write_everywhere(c, "k", "old")
        old = c.wait_leader()
        if jump:
            clock.write_text("-10\n")  # back 10 s: a lease taken before looks good for 10 s more
        c.isolate(old)
        c.write("k", "new", among=[n for n in c.nodes if n != old])
        reply = c.call(old, "read", key="k")
        if bug and jump:
            assert reply == {"id": reply["id"], "ok": True, "value": "old"}  # stale
        else:
            assert not reply["ok"]  # stepped down (check-quorum) or no quorum for the read


@pytest.mark.parametrize("bug", ["config-before-commit", None])
def test_config_before_commit_lets_two_disjoint_majorities_commit(tmp_path, bug):
    # The leader and one follower are cut off from the other three; before the leader's
    # check-quorum notices, two of the far side are removed at once. Stacked, the two single-server
    # steps make {leader, follower, far1} the configuration, whose majority the near side holds,
    # while the far side still has a majority of the old five: two leaders, each committing.
    with LocalCluster(tmp_path, 5, bugs=[bug] if bug else []) as c:
        write_everywhere(c, "k", "before")
        old = c.wait_leader()
        near = [old, next(n for n in c.nodes if n != old)]
        far = [n for n in c.nodes if n not in near]
        for name in near:
            c.call(name, "drop", value=far)
        for name in far:
            c.call(name, "drop", value=near)
        with ThreadPoolExecutor(2) as pool:
            replies = list(pool.map(lambda t: c.call(old, "remove", value=t), far[1:]))
        c.write("k", "far", among=far)  # the far side elects its own leader and commits
        if bug is None:
            assert not any(r["ok"] for r in replies)  # one refused (change-in-progress), one timed out
            assert c.call(old, "write", key="k", value="near")["ok"] is False
            return
        assert all(r["ok"] for r in replies) and c.status(old)["members"] == sorted([*near, far[0]])
        assert c.call(old, "write", key="k", value="near")["ok"]
        assert c.status(old)["role"] == "leader" and c.leaders(far)
        assert c.call(old, "read", key="k")["value"] == "near" and c.read("k", among=far) == "far"


def test_commit_prior_term_serves_reads_without_a_no_op(tmp_path):
    # No no-op: a new leader takes what it had when elected as committed once the count says so,
    # so a fresh cluster answers reads at once and a new leader after a kill does too.
    with LocalCluster(tmp_path, 3, bugs=["commit-prior-term"]) as c:
        assert c.read("k") is None
        write_everywhere(c, "k", 1)
        old = c.wait_leader()
        c.kill(old)
        assert c.read("k", among=[n for n in c.nodes if n != old]) == 1
