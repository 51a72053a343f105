"""The raftkv adapter without Docker: its command line, its failure messages, and who it names as
leader, against tiny status servers on 127.0.0.1. (Kill, pause and start run for real in
tests/docker/test_nemesis_docker.py.)"""

import json
import socketserver
import threading

import pytest

from raft_jepsen.harness import systems
from raft_jepsen.harness.control.base import NullRemote, Result
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import (
    HasLogs,
    HasPrimaries,
    HasRoleLog,
    Killable,
    Pausable,
    System,
)
from raft_jepsen.harness.systems.raftkv import status


def raftkv(nodes, **kw):
    return systems.make(systems.get("raftkv"), nodes, **kw)


def node(name, ip="10.0.0.1", addr=("127.0.0.1", 1), remote=None):
    return Node(name, ip, addr, remote or NullRemote(name))


@pytest.fixture
def status_server():
    """Start servers answering every line with a fixed reply (None: read and never answer)."""
    servers = []

    def start(reply):
        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request = json.loads(self.rfile.readline())
                if reply is None:
                    self.rfile.readline()  # hold the connection like a paused node
                    return
                self.wfile.write((json.dumps({"id": request["id"], **reply}) + "\n").encode())

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_raftkv_has_every_ability_the_nemeses_use():
    kind = systems.get("raftkv")
    system = systems.make(kind, [node("n1")])
    abilities = (System, Killable, Pausable, HasPrimaries, HasLogs, HasRoleLog)
    assert all(isinstance(system, a) for a in abilities)
    assert all(kind.can(a) for a in abilities)  # what a spec checks before any container starts


def test_command_line_names_peers_by_address_and_carries_the_run_flags():
    nodes = [node("n1", "172.20.0.2"), node("n2", "172.20.0.3")]
    cmd = raftkv(nodes, bugs=("stale-read", "lazy-fsync")).command(nodes[1])
    assert cmd[:5] == ["python3", "-m", "raftkv", "--id", "n2"]
    assert cmd[cmd.index("--peers") + 1] == "n1=172.20.0.2:7000,n2=172.20.0.3:7000"
    assert cmd[cmd.index("--client-port") + 1] == "8000"
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--bug"] == ["stale-read", "lazy-fsync"]
    assert cmd[-1] == "--simulate-page-cache"  # a kill is a power cut
    no_cache = raftkv(nodes, options={"simulate-page-cache": "false"})
    assert "--simulate-page-cache" not in no_cache.command(nodes[0])


def test_start_writes_the_pid_file_from_the_node_process_itself():
    remote = NullRemote("n1")
    raftkv([node("n1", remote=remote)]).start(node("n1", remote=remote))
    (script,) = [cmd for kind, cmd in remote.calls if kind == "exec"]
    assert "echo $$ >/run/rj/node.pid; export PYTHONPATH=/opt/raftkv; " in script
    # a fault's environment (libfaketime) is sourced just before the exec
    assert "[ -r /run/rj/node.env ] && . /run/rj/node.env; cd / && exec python3 -m raftkv" in script
    assert "setsid -f" in script


def test_a_failed_action_is_one_line_naming_the_node_and_the_reason():
    remote = NullRemote("n2", respond=lambda cmd: Result(1, "pid 41 not reaped (state Z)\n", ""))
    with pytest.raises(EnvironmentProblem, match=r"^n2: raftkv kill failed: pid 41 not reaped \(state Z\)$"):
        raftkv([]).kill(node("n2", remote=remote))


def test_primaries_are_the_leaders_of_the_highest_term(status_server):
    nodes = [
        node("n1", addr=status_server({"ok": True, "role": "leader", "term": 3})),
        node("n2", addr=status_server({"ok": True, "role": "leader", "term": 5})),
        node("n3", addr=status_server({"ok": True, "role": "follower", "term": 6})),
        node("n4", addr=status_server({"ok": True, "role": "leader", "term": 5})),
    ]
    assert raftkv(nodes).primaries(nodes) == ["n2", "n4"]


def test_nodes_that_do_not_answer_do_not_count(status_server):
    silent = node("n2", addr=status_server(None))
    garbled = node("n3", addr=status_server({"ok": False, "error": "bad-request"}))
    leader = node("n1", addr=status_server({"ok": True, "role": "leader", "term": 2}))
    nodes = [leader, silent, garbled]
    assert raftkv(nodes).primaries(nodes) == ["n1"]
    assert status(silent, timeout=0.2) is None and status(garbled) is None
    closed = node("n4", addr=("127.0.0.1", 1))
    assert raftkv([closed]).primaries([closed]) == []
