"""Maelstrom nodes behind the shim (`--system maelstrom --bin PATH`): how the harness's requests
become lin-kv requests and Maelstrom's replies and error codes come back (definite or not, per
Maelstrom's table), where the shim routes a node's messages, which program a --bin names, and (in
real time) a three-node cluster of the shipped example node behind three shims on 127.0.0.x."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import systems
from raft_jepsen.harness.clients.protocol import ProtocolClient
from raft_jepsen.harness.control.base import NullRemote
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import CAS_MISMATCH, Op
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import HasPrimaries, Killable, Pausable
from raft_jepsen.harness.systems.maelstrom import program
from raft_jepsen.node_image.maelstrom import shim
from tests.unit.raftkv_cluster import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples/maelstrom/raft_lin_kv.py"


# --- requests and replies ---------------------------------------------------------------------


def test_requests_become_lin_kv_bodies_with_maelstrom_keys():
    assert shim.to_body({"op": "read", "key": "k12"}) == {"type": "read", "key": 12}
    assert shim.to_body({"op": "write", "key": "k0", "value": 3}) == {"type": "write", "key": 0, "value": 3}
    assert shim.to_body({"op": "cas", "key": "k1", "value": [1, 2]}) == {"type": "cas", "key": 1, "from": 1, "to": 2}
    assert shim.to_body({"op": "read", "key": "rj-health"}) == {"type": "read", "key": "rj-health"}
    assert shim.maelstrom_key("k01") == "k01"  # not a number as Maelstrom writes it: kept as a string
    for bad in ({"op": "append", "key": "k1", "value": 1}, {"op": "cas", "key": "k1", "value": 3}, {"op": "read"}):
        with pytest.raises(shim.BadRequest):
            shim.to_body(bad)


@pytest.mark.parametrize("op, body, expected", [
    ("read", {"type": "read_ok", "value": 4}, {"ok": True, "value": 4}),
    ("write", {"type": "write_ok"}, {"ok": True}),
    ("cas", {"type": "cas_ok"}, {"ok": True}),
    # key-does-not-exist on a read: a read of nothing, as the register model has a never-written key
    ("read", {"type": "error", "code": 20}, {"ok": True, "value": None}),
    # precondition-failed on a cas: the harness's definite cas-mismatch
    ("cas", {"type": "error", "code": 22}, {"ok": False, "error": CAS_MISMATCH, "definite": True}),
    ("cas", {"type": "error", "code": 20}, {"ok": False, "error": "key-does-not-exist", "definite": True}),
    ("write", {"type": "error", "code": 11}, {"ok": False, "error": "temporarily-unavailable", "definite": True}),
    ("write", {"type": "error", "code": 14}, {"ok": False, "error": "abort", "definite": True}),
    ("write", {"type": "error", "code": 0}, {"ok": False, "error": "timeout", "definite": False}),
    ("write", {"type": "error", "code": 13}, {"ok": False, "error": "crash", "definite": False}),
    ("write", {"type": "error", "code": 1001}, {"ok": False, "error": "error-1001", "definite": False}),  # a node's own
    ("write", {"type": "error", "code": 99}, {"ok": False, "error": "error-99", "definite": False}),  # unknown
    ("write", {"type": "error"}, {"ok": False, "error": "bad-error", "definite": False}),
    ("write", {"type": "read_ok", "value": 1}, {"ok": False, "error": "unexpected-reply", "definite": False}),
])
def test_replies_and_error_codes_map_back_as_maelstroms_table_says(op, body, expected):
    got = shim.reply(op, body)
    assert {k: got[k] for k in expected} == expected


def test_every_maelstrom_error_of_the_table_is_known():
    # doc/protocol.md of jepsen-io/maelstrom: definite codes 1, 10, 11, 12, 14, 20, 21, 22, 30
    assert {c for c, (_, definite) in shim.ERRORS.items() if definite} == {1, 10, 11, 12, 14, 20, 21, 22, 30}
    assert {c for c, (_, definite) in shim.ERRORS.items() if not definite} == {0, 13}


def test_client_ids_name_their_shim():
    nodes = ["n1", "n2", "n3"]
    assert shim.client_home(f"c{2 * shim.CLIENT_BLOCK + 7}", nodes) == "n2"
    assert shim.client_home(f"c{4 * shim.CLIENT_BLOCK}", nodes) is None
    assert shim.client_home("lin-kv", nodes) is None and shim.client_home("c", nodes) is None


def shim_with_fake_node(node_id="n1", nodes=("n1", "n2")):
    args = SimpleNamespace(id=node_id, nodes={n: f"10.0.0.{i}" for i, n in enumerate(nodes, 1)})
    s = shim.Shim(args)
    written = []
    s.proc = SimpleNamespace(returncode=None, stdin=SimpleNamespace(write=written.append))
    return s, written


def test_a_message_to_a_service_gets_not_supported_and_to_itself_loops_back():
    s, written = shim_with_fake_node()
    s.route({"src": "n1", "dest": "lin-kv", "body": {"type": "read", "msg_id": 5, "key": 1}})
    s.route({"src": "n1", "dest": "n1", "body": {"type": "tick"}})
    replies = [json.loads(line) for line in written]
    assert replies[0]["src"] == "lin-kv" and replies[0]["body"]["code"] == 10 and replies[0]["body"]["in_reply_to"] == 5
    assert replies[1]["body"] == {"type": "tick"}


# --- which program a --bin names --------------------------------------------------------------


def executable(path: Path, text="#!/bin/sh\n") -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_bin_a_file_or_a_folder_with_one_executable(tmp_path):
    node = executable(tmp_path / "node")
    assert program(node) == node
    folder = tmp_path / "dist"
    (folder / "lib").mkdir(parents=True)
    (folder / "README").write_text("not executable")
    run = executable(folder / "run")
    assert program(folder) == run
    executable(folder / "other")
    with pytest.raises(ValueError, match=r"several executable files \(other, run\).*--system-opt run=NAME"):
        program(folder)
    assert program(folder, "other") == folder / "other"
    (tmp_path / "plain").write_text("x")
    with pytest.raises(ValueError, match="not executable"):
        program(tmp_path / "plain")


def test_the_spec_checks_bin_before_anything_starts(tmp_path):
    with pytest.raises(UsageError, match=r"system maelstrom needs --bin PATH"):
        specs.build({"system": "maelstrom", "nemesis": "partition"})
    with pytest.raises(UsageError, match=r"bin: no such file or folder: nowhere"):
        specs.build({"system": "maelstrom", "bin": "nowhere"})
    (tmp_path / "plain").write_text("x")
    with pytest.raises(UsageError, match=r"--bin .*plain: not executable"):
        specs.build({"system": "maelstrom", "bin": str(tmp_path / "plain")})
    with pytest.raises(UsageError, match=r"system raftkv takes no --bin"):
        specs.build({"bin": str(EXAMPLE)})
    with pytest.raises(UsageError, match=r"system maelstrom cannot run workload 'append'"):
        specs.build({"system": "maelstrom", "bin": str(EXAMPLE), "workload": "append"})
    spec = specs.build({"system": "maelstrom", "bin": str(EXAMPLE), "nemesis": "partition,pause,power-cut"})
    assert spec.bin == str(EXAMPLE) and spec.test_name == "maelstrom-register"


def test_the_adapter_runs_the_program_behind_the_shim(tmp_path):
    kind = systems.get("maelstrom")
    assert kind.can(Killable) and kind.can(Pausable) and not kind.can(HasPrimaries)
    nodes = [Node(f"n{i}", f"10.0.0.{i}", ("127.0.0.1", 1), NullRemote(f"n{i}")) for i in (1, 2)]
    system = systems.make(kind, nodes, bin=str(EXAMPLE))
    assert system.command(nodes[1]) == [
        "python3", "-m", "maelstrom", "--id", "n2", "--nodes", "n1=10.0.0.1,n2=10.0.0.2", "--peer-port", "7000",
        "--client-port", "8000", "--timeout-ms", "2000", "--node-log", "/var/log/rj/node.log",
        "--", "/opt/maelstrom-node/raft_lin_kv.py"]
    folder = tmp_path / "dist"
    folder.mkdir()
    executable(folder / "run")
    assert systems.make(kind, nodes, bin=str(folder)).command(nodes[0])[-1] == "/opt/maelstrom-node/dist/run"


# --- three shims and the example node, in real time --------------------------------------------


@pytest.fixture
def cluster(tmp_path):
    """Three shims on 127.0.0.1-3 (one port pair for all, as containers have), each running the
    example node. Yields (client port, {name: process})."""
    peer, client = free_port(), free_port()
    names = ["n1", "n2", "n3"]
    nodes = ",".join(f"{n}=127.0.0.{i}" for i, n in enumerate(names, 1))
    env = {**os.environ, "PYTHONPATH": str(REPO / "node_image")}
    procs = {}

    def start(i, name):
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "maelstrom", "--id", name, "--nodes", nodes, "--bind", f"127.0.0.{i}",
             "--peer-port", str(peer), "--client-port", str(client), "--node-log", str(tmp_path / f"{name}.log"),
             "--", str(EXAMPLE)], env=env, stderr=open(tmp_path / f"{name}.shim.log", "ab"), start_new_session=True)

    for i, name in enumerate(names, 1):
        start(i, name)
    try:
        yield client, procs, start
    finally:
        for proc in procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def call(client_port, i, f, key="k1", value=None, deadline_s=10.0):
    """One op through node i with the harness's own client, retried until it is ok."""
    deadline = time.monotonic() + deadline_s
    while True:
        c = ProtocolClient({})
        c.open(Node(f"n{i}", "x", (f"127.0.0.{i}", client_port), NullRemote()))
        done = c.invoke(Op(index=0, type="invoke", process=0, f=f, key=key, value=value))
        c.close()
        if done.type == "ok" or time.monotonic() > deadline:
            return done
        time.sleep(0.1)


@pytest.mark.slow
def test_three_shims_carry_a_raft_cluster_and_a_killed_node_comes_back_empty(cluster):
    port, procs, start = cluster
    assert call(port, 1, "write", value=7).type == "ok"
    assert call(port, 2, "read").value == 7 and call(port, 3, "read").value == 7
    wrong = call(port, 3, "cas", value=[1, 2], deadline_s=0)
    assert (wrong.type, wrong.error) == ("fail", CAS_MISMATCH)
    # kill -9 of the shim alone: its node dies with it (never left running behind a closed port)
    node_pid = _child_of(procs["n2"].pid)
    os.kill(procs["n2"].pid, signal.SIGKILL)
    procs["n2"].wait()
    _wait_gone(node_pid)
    assert call(port, 1, "cas", value=[7, 8]).type == "ok"  # the other two still make a majority
    start(2, "n2")  # a fresh process, with nothing: it catches up from the leader like a new node
    assert call(port, 2, "read").value == 8


def _child_of(pid: int) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = open(f"/proc/{entry}/stat").read()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    return int(entry)
        time.sleep(0.05)
    raise AssertionError(f"no child of {pid}")


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.05)
    raise AssertionError(f"the node {pid} outlived its shim")
