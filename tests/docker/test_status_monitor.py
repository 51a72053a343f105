"""The status monitor on raftkv (issue 14): during a short run with kills, every node's status is
polled into status.jsonl (role, term, commit index, the process's start), a killed and restarted
node shows as a new process, and the Raft invariants and liveness are judged from it, apart from
the safety verdict."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict

import pytest

from tests.docker.test_run import raft_jepsen, results, run_folder

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def test_status_monitor_polls_every_node_and_the_invariants_hold(docker_client, node_image, tmp_path):
    done = subprocess.run(raft_jepsen(tmp_path, "--time-limit", "10", "--seed", "4", "--nemesis", "kill",
                                      "--nemesis-interval", "2"), capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = run_folder(done.stdout)
    polls = [json.loads(line) for line in (folder / "status.jsonl").read_text().splitlines()]
    by_node = defaultdict(list)
    for p in polls:
        by_node[p["node"]].append(p)
    assert sorted(by_node) == ["n1", "n2", "n3", "n4", "n5"]
    assert all({"term", "role", "commit_index", "commit_term", "started"} <= set(p) for p in polls)
    assert any(p["role"] == "leader" for p in polls)
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    restarted = {n for op in history if op["f"] == "start" for n in op["value"]["nodes"]}
    assert restarted, "the schedule restarted nobody: pick another seed"
    for node in restarted:  # a kill and restart is a new process: its `started` changes
        assert len({p["started"] for p in by_node[node]}) >= 2, node
    document = results(folder)
    invariants, liveness = document["checkers"]["invariants"], document["checkers"]["liveness"]
    assert invariants["valid"] is True and invariants["checked"]["status_polls"] == len(polls)
    assert invariants["checked"]["digests"] == 5 and invariants["state"]["compared"] == 5
    assert liveness["valid"] is True and liveness["after_heal"]["write_s"] is not None
    assert (document["safety"], document["liveness"]) == (True, True)


def test_a_client_gives_up_on_a_paused_leader_without_waiting_out_its_timeout(docker_client, node_image):
    """A SIGSTOPped raftkv's kernel still holds the client's connection open, so only silence
    tells: the write ends info as "silent" (a status on a fresh connection goes unanswered too),
    not "timeout" after the client's 60 s."""
    import time

    from raft_jepsen.harness import systems
    from raft_jepsen.harness.clients.protocol import ProtocolClient
    from raft_jepsen.harness.cluster import Cluster
    from raft_jepsen.harness.history import Op
    from raft_jepsen.harness.systems.raftkv import CLIENT_PORT

    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as cluster:
        system = systems.make(systems.get("raftkv"), cluster.nodes)
        for node in cluster.nodes:
            system.setup(node)
        try:
            deadline = time.monotonic() + 20
            while len(leaders := system.primaries(cluster.nodes)) != 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            (leader,) = [n for n in cluster.nodes if n.name in leaders]
            client = ProtocolClient({n.name: n.client_addr for n in cluster.nodes}, timeout=60.0)
            client.open(leader)
            write = Op(index=-1, type="invoke", process=0, f="write", key="k", value=1)
            assert client.invoke(write).type == "ok"
            system.pause(leader)
            try:
                done = client.invoke(write)
                assert (done.type, done.node) == ("info", leader.name) and "silent" in done.error, done
            finally:
                system.resume(leader)
        finally:
            for node in cluster.nodes:
                system.teardown(node)
