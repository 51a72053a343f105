"""A node's process is a process group: a node started through a wrapper script (a system file's
`start: sh -c '...'`, the Maelstrom shim and its program) is killed, paused and resumed whole,
never leaving a child serving. Run on this machine through a Remote that runs `sh -c` here."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from raft_jepsen.harness.control.base import Result
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.daemon import Daemon
from tests.unit.raftkv_cluster import free_port


class LocalRemote:
    name = "local"

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)


def state(pid: int) -> str | None:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


@pytest.mark.slow
def test_a_wrapper_and_its_server_are_killed_paused_and_resumed_together(tmp_path):
    port = free_port()
    child_pid = tmp_path / "child.pid"
    # A wrapper that does not exec: it starts the server as a child and waits for it.
    server = (f"import os, socket; open({str(child_pid)!r}, 'w').write(str(os.getpid())); "
              f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); s.accept()")
    wrapper = ["sh", "-c", f"{sys.executable} -c \"{server}\"; echo server exited"]
    daemon = Daemon(name="wrapped", pid_file=str(tmp_path / "node.pid"), log_file=str(tmp_path / "node.log"),
                    port=port, wait_s=10)
    node = Node("n1", "127.0.0.1", ("127.0.0.1", port), LocalRemote())
    daemon.start(node, wrapper)
    try:
        wrapper_pid = int((tmp_path / "node.pid").read_text())
        server_pid = int(child_pid.read_text())
        assert server_pid != wrapper_pid and os.getpgid(server_pid) == wrapper_pid
        daemon.pause(node)
        assert state(server_pid) == "T" and state(wrapper_pid) == "T"
        daemon.resume(node)
        assert state(server_pid) in ("S", "R")
        daemon.kill(node)
        assert state(server_pid) in (None, "Z") and state(wrapper_pid) in (None, "Z")
        daemon.start(node, wrapper)  # and it comes back, on the same port
        assert int(child_pid.read_text()) != server_pid
    finally:
        daemon.kill(node)
        time.sleep(0.05)
