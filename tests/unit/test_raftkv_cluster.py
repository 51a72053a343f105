"""raftkv as a cluster of local processes: elections, replication, crashes, restarts, snapshots,
membership, linearizable reads, deduplication and bad input."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .raftkv_cluster import NODE_IMAGE, Client, LocalCluster

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]  # local node processes, real time


@pytest.mark.parametrize("size", [3, 5])
def test_elects_one_leader_that_every_node_follows(tmp_path, size):
    with LocalCluster(tmp_path, size) as c:
        leader = c.wait_leader()
        term = c.status(leader)["term"]

        def all_follow():
            statuses = [c.status(n) for n in c.nodes]
            return all(s["leader"] == leader and s["term"] == term for s in statuses)
        c.wait_for(all_follow, what="every node to follow the leader")
        roles = [e for e in c.events(leader, "role") if e["role"] == "leader"]
        assert roles[-1]["term"] == term


def test_write_is_replicated_and_committed_everywhere(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        reply = c.call(leader, "write", key="k", value="v1")
        assert (reply["ok"], reply["value"]) == (True, "v1")
        index = c.status(leader)["commit_index"]
        c.wait_for(lambda: all(c.status(n)["last_applied"] >= index for n in c.nodes),
                   what="all nodes to apply the write")
        for name in c.nodes:
            assert c.call(name, "inspect")["data"]["k"] == "v1"


def test_operations_return_their_results(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        call = lambda op, **kw: c.call(leader, op, **kw)  # noqa: E731
        assert call("read", key="k")["value"] is None
        assert call("write", key="k", value=1)["value"] == 1
        assert call("cas", key="k", value=[1, 2])["value"] == 2
        mismatch = call("cas", key="k", value=[1, 3])
        assert (mismatch["ok"], mismatch["error"], mismatch["definite"], mismatch["value"]) == \
            (False, "cas-mismatch", True, 2)
        assert call("append", key="l", value="a")["value"] == ["a"]
        assert call("append", key="l", value="b")["value"] == ["a", "b"]
        assert call("incr", key="n", value=5)["value"] == 5
        assert call("incr", key="n", value=-2)["value"] == 3
        assert call("incr", key="l", value=1)["error"] == "wrong-type"
        assert call("read", key="k")["value"] == 2


def test_follower_redirects_to_the_leader(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        c.wait_for(lambda: all(c.status(n)["leader"] == leader for n in c.nodes))
        follower = next(n for n in c.nodes if n != leader)
        reply = c.call(follower, "write", key="k", value=1)
        assert (reply["ok"], reply["error"], reply["definite"], reply["leader"]) == \
            (False, "not-leader", True, leader)


def test_leader_crash_elects_a_new_leader_and_loses_no_acknowledged_write(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        acked = {}
        for i in range(20):
            c.write(f"k{i}", i)
            acked[f"k{i}"] = i
        old = c.wait_leader()
        c.kill(old)
        new = c.wait_leader()
        assert new != old
        for key, value in acked.items():
            assert c.read(key) == value
        c.start(old)
        c.wait_for(lambda: c.status(old)["leader"] == new or c.status(old)["role"] == "leader")


def test_whole_cluster_restarts_from_disk(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        for i in range(10):
            c.write("k", i)
        c.call(c.wait_leader(), "incr", key="n", value=7, client="c1", seq=1)
        for name in list(c.nodes):
            c.kill(name)
        for name in list(c.nodes):
            c.start(name)
        assert c.read("k") == 9
        assert c.read("n") == 7
        # The session table survived too: the retried incr is not applied again.
        assert c.call(c.wait_leader(), "incr", key="n", value=7, client="c1", seq=1)["value"] == 7
        assert c.read("n") == 7


def test_torn_wal_tail_is_cut_and_the_node_recovers(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.write("k", "before")
        victim = next(n for n in c.nodes if n != c.wait_leader())
        c.kill(victim)
        wal = c.nodes[victim].data / "wal"
        intact = wal.read_bytes()
        wal.write_bytes(intact + b'0badc0de {"i": 99, "t": 1, "k": "noop", "c": nu')  # torn write
        c.start(victim)
        truncated = c.wait_for(lambda: c.events(victim, "wal-truncated"), what="wal-truncated")
        assert truncated[0]["at_byte"] == len(intact)
        c.write("k", "after")
        c.wait_for(lambda: c.call(victim, "inspect")["data"].get("k") == "after",
                   what="the recovered node to apply new writes")


def test_lagging_follower_catches_up_from_a_snapshot(tmp_path):
    with LocalCluster(tmp_path, 3, extra_args=["--snapshot-every", "20"]) as c:
        leader = c.wait_leader()
        lagging = next(n for n in c.nodes if n != leader)
        c.kill(lagging)
        for i in range(60):
            c.write(f"k{i % 7}", i)
        assert c.status(c.wait_leader())["snapshot_index"] > 0
        c.start(lagging)
        c.wait_for(lambda: c.events(lagging, "snapshot-installed"), what="a snapshot install")
        c.wait_for(lambda: c.call(lagging, "inspect")["data"].get("k3") == 59,
                   what="the lagging follower to catch up")
        # And restarts from its own snapshot plus log, once the leader tells it the commit index.
        c.restart(lagging)
        assert c.call(lagging, "inspect")["snapshot_index"] > 0
        c.wait_for(lambda: c.call(lagging, "inspect")["data"].get("k3") == 59,
                   what="the restarted follower to apply its log")


def test_membership_add_then_remove(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.write("k", 1)
        c.add_joiner("n4")
        leader = c.wait_leader()
        reply = c.call(leader, "add", value={"id": "n4", "addr": c.addr("n4")})
        assert reply["ok"] and reply["value"] == ["n1", "n2", "n3", "n4"]
        c.wait_for(lambda: c.status("n4")["members"] == ["n1", "n2", "n3", "n4"]
                   and c.call("n4", "inspect")["data"].get("k") == 1, what="n4 to catch up")
        # With four voters a write needs three of them: it commits with n4 and one other.
        others = [n for n in ("n1", "n2", "n3") if n != leader]
        c.kill(others[0])
        c.write("k", 2)
        c.start(others[0])
        leader = c.wait_leader()
        victim = next(n for n in ("n1", "n2", "n3") if n != leader)
        reply = c.call(leader, "remove", value=victim)
        assert reply["ok"] and victim not in reply["value"]
        for name in c.running():
            if name != victim:
                c.wait_for(lambda: victim not in c.status(name)["members"])
        c.kill(victim)
        c.write("k", 3)
        assert c.read("k") == 3


def test_leader_removing_itself_steps_down(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        c.wait_for(lambda: all(c.status(n)["leader"] == leader for n in c.nodes))
        reply = c.call(leader, "remove", value=leader)
        # Under load the leader may step down before the change commits: then the next leader,
        # which has the change appended (so in effect), commits it.
        assert reply["ok"] or reply["definite"] is False
        rest = [n for n in c.nodes if n != leader]
        new = c.wait_leader(among=rest)
        assert c.status(new)["members"] == rest
        assert c.status(leader)["role"] != "leader"


def test_transfer_hands_leadership_to_the_target(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.write("k", 1)
        leader = c.wait_leader()
        target = next(n for n in c.nodes if n != leader)
        reply = c.call(leader, "transfer", value=target)
        assert reply == {"id": reply["id"], "ok": True, "value": target}
        assert c.wait_leader() == target
        assert c.read("k") == 1


def test_partitioned_old_leader_refuses_linearizable_reads(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.write("k", "old")
        old = c.wait_leader()
        c.isolate(old)
        rest = [n for n in c.nodes if n != old]
        c.write("k", "new", among=rest)
        reply = c.call(old, "read", key="k", timeout=10)
        assert not reply["ok"] and reply["error"] in ("not-leader", "timeout")
        c.wait_for(lambda: c.status(old)["role"] != "leader", what="check-quorum step-down")
        c.heal()
        assert c.read("k") == "new"


def test_retried_command_is_applied_once(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        first = c.call(leader, "incr", key="n", value=1, client="c1", seq=5)
        again = c.call(leader, "incr", key="n", value=1, client="c1", seq=5)
        assert first["value"] == again["value"] == 1
        assert c.call(leader, "incr", key="n", value=1, client="c1", seq=6)["value"] == 2
        assert c.call(leader, "append", key="l", value="x", client="c2", seq=5)["value"] == ["x"]


def test_bad_requests_get_an_error_and_harm_nothing(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        client = Client(c.nodes[leader].client_port)
        bad = [b"not json\n", b"[1, 2]\n", b'{"id": 1}\n', b'{"id": 2, "op": "explode"}\n',
               b'{"id": 3, "op": "write", "key": 5, "value": 1}\n',
               b'{"id": 4, "op": "cas", "key": "k", "value": 3}\n',
               b'{"id": 5, "op": "incr", "key": "k", "value": "x"}\n',
               b'{"id": 6, "op": "add", "value": {"id": "n9"}}\n',
               b'{"id": 7, "op": "write", "key": "k", "value": 1, "seq": "x", "client": "c"}\n',
               b'{"id": 8, "op": "drop", "value": "n2"}\n', b"[" * 100000 + b"\n"]
        for line in bad:
            reply = client.send_line(line)
            assert (reply["ok"], reply["error"], reply["definite"]) == (False, "bad-request", True), line
        assert client.call("write", key="k", value="fine")["ok"]
        client.close()
        assert c.read("k") == "fine"
        assert all(c.nodes[n].proc.poll() is None for n in c.nodes)


def test_many_requests_in_flight_on_one_connection(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        with socket.create_connection(("127.0.0.1", c.nodes[leader].client_port), timeout=5) as s:
            requests = [{"id": i, "op": "incr", "key": "n", "value": 1} for i in range(50)]
            s.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
            lines = s.makefile("rb")
            replies = [json.loads(lines.readline()) for _ in requests]
        assert sorted(r["id"] for r in replies) == list(range(50))
        assert sorted(r["value"] for r in replies) == list(range(1, 51))


def test_unresolvable_peers_are_retried_without_crashing(tmp_path):
    with LocalCluster(tmp_path, 1, start=False) as c:
        c.nodes["n1"].args[1] += ",n2=not-yet-in-dns.invalid:7000,n3=127.0.0.1:9"
        c.start("n1")
        status = c.status("n1")
        assert status["members"] == ["n1", "n2", "n3"] and status["role"] != "leader"
        assert abs(status["time"] - time.time()) < 60
        assert c.nodes["n1"].proc.poll() is None


def test_role_events_are_logged_once_per_change(tmp_path):
    with LocalCluster(tmp_path, 3) as c:
        c.kill(c.wait_leader())
        c.wait_leader()
        for name in c.running():
            states = [(e["term"], e["role"], e["leader"]) for e in c.events(name, "role")]
            assert all(a != b for a, b in zip(states, states[1:]))


def test_node_never_sleeps_or_waits_with_a_timeout_outside_asyncio():
    # libfaketime 0.9.10 breaks time.sleep and timed thread waits: the node must use neither.
    source = "".join(p.read_text() for p in (NODE_IMAGE / "raftkv").glob("*.py"))
    assert "time.sleep" not in source
    assert "concurrent.futures" not in source and "run_in_executor" not in source
    assert not re.search(r"\.(get|put|acquire|wait|join|result)\([^)]*timeout", source)


FAKETIME_LIB = next(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"), Path("libfaketimeMT.so.1"))


@pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="libfaketime is not installed (.ci/run installs it)")
@pytest.mark.parametrize("clock", ["offset", "rate"])
def test_cluster_works_under_libfaketime(tmp_path, clock):
    # The two ways the harness skews a node's clock: a fixed offset, and a clock running fast.
    clock_file = tmp_path / "clock"
    clock_file.write_text("-30\n")
    env = {"LD_PRELOAD": str(FAKETIME_LIB)}
    if clock == "offset":
        env.update(FAKETIME_TIMESTAMP_FILE=str(clock_file), FAKETIME_CACHE_DURATION="1",
                   FAKETIME_DONT_FAKE_MONOTONIC="1")
    else:
        env["FAKETIME"] = "+0 x1.5"
    with LocalCluster(tmp_path, 3, env=env) as c:
        for i in range(20):
            c.write("k", i)
        leader = c.wait_leader()
        if clock == "offset":
            assert c.status(leader)["time"] < time.time() - 25
        c.kill(leader)
        assert c.read("k") == 19


@pytest.mark.skipif(not FAKETIME_LIB.exists(), reason="libfaketime is not installed (.ci/run installs it)")
def test_log_timestamps_keep_true_time_while_the_clock_fault_fools_the_node(tmp_path):
    # The report's time line comes from the node logs: they must not move with the clock fault.
    clock_file = tmp_path / "clock"
    clock_file.write_text("-100\n")
    env = {**os.environ, "PYTHONPATH": str(NODE_IMAGE), "LD_PRELOAD": str(FAKETIME_LIB),
           "FAKETIME_TIMESTAMP_FILE": str(clock_file), "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    out = subprocess.run([sys.executable, "-c", "import time; from raftkv.events import true_time; "
                          "print(time.time(), true_time())"], env=env, capture_output=True, text=True, check=True)
    faked, true = map(float, out.stdout.split())
    assert faked < time.time() - 90 and abs(true - time.time()) < 5
