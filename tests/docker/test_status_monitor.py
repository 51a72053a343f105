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
