"""A cluster of local raftkv processes on 127.0.0.1 for tests (and the benchmark).

    with LocalCluster(tmp_path, 3) as c:
        leader = c.wait_leader()
        c.call(leader, "write", key="k", value=1)

Every node runs with ``--test-control``, so links can be cut with `isolate` / `heal` (the
node's transport drops the traffic, as an iptables partition would). Leaving the `with` block
kills every process the cluster started, whatever happened.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NODE_IMAGE = Path(__file__).resolve().parents[2] / "node_image"
CALL_TIMEOUT = 5.0


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports below the kernel's ephemeral range. A port found by binding to 0 is ephemeral: between
# the pick and the node's own bind, another node's connection to a peer not yet listening may take
# it as its source port ("address already in use"). A random start per process keeps test runs
# that share the machine apart.
_PORT_RANGE = (10000, max(10001, _ephemeral_low()))
_next_ports = itertools.count(random.Random(os.getpid()).randrange(*_PORT_RANGE))


def free_port() -> int:
    """A port nobody is bound to now, outside the ephemeral range."""
    low, high = _PORT_RANGE
    for _ in range(high - low):
        port = low + (next(_next_ports) - low) % (high - low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}-{high}")


class Client:
    """A blocking JSON-lines client for one node; one request at a time."""

    _ids = itertools.count(1)

    def __init__(self, port: int, timeout: float = CALL_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send_line(self, line: bytes) -> dict:
        self.sock.sendall(line)
        return json.loads(self.file.readline())

    def call(self, op: str, **fields) -> dict:
        req = {"id": next(self._ids), "op": op, **fields}
        reply = self.send_line(json.dumps(req).encode() + b"\n")
        assert reply["id"] == req["id"]
        return reply

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@dataclass
class LocalNode:
    name: str
    raft_port: int
    client_port: int
    data: Path
    log: Path
    args: list[str]
    proc: subprocess.Popen | None = None


class LocalCluster:
    def __init__(self, tmp: Path, size: int, bugs=(), election_ms: int = 200, heartbeat_ms: int = 40,
                 extra_args=(), node_args: dict[str, list[str]] | None = None, start: bool = True,
                 env: dict[str, str] | None = None):
        self.tmp = Path(tmp)
        self.env = {**os.environ, **(env or {}), "PYTHONPATH": str(NODE_IMAGE)}
        self.nodes: dict[str, LocalNode] = {}
        names = [f"n{i}" for i in range(1, size + 1)]
        for name in names:
            self._new_node(name)
        self.common = ["--election-timeout-ms", str(election_ms), "--heartbeat-ms", str(heartbeat_ms),
                       "--test-control", *extra_args]
        for bug in bugs:
            self.common += ["--bug", bug]
        peers = self.peers_arg(names)
        for name in names:
            self.nodes[name].args = ["--peers", peers, *self.common, *(node_args or {}).get(name, [])]
        if start:
            for name in names:
                self.start(name)

    def _new_node(self, name: str) -> LocalNode:
        node = LocalNode(name, free_port(), free_port(), self.tmp / name / "data",
                         self.tmp / name / "node.log", [])
        node.data.mkdir(parents=True, exist_ok=True)
        self.nodes[name] = node
        return node

    def peers_arg(self, names) -> str:
        return ",".join(f"{n}=127.0.0.1:{self.nodes[n].raft_port}" for n in names)

    def addr(self, name: str) -> str:
        return f"127.0.0.1:{self.nodes[name].raft_port}"

    def add_joiner(self, name: str) -> LocalNode:
        """A new node started with --join, knowing the current members' addresses."""
        node = self._new_node(name)
        names = [n for n in self.nodes]
        node.args = ["--peers", self.peers_arg(names), *self.common, "--join"]
        self.start(name)
        return node

    # ---- processes -------------------------------------------------------------------

    def start(self, name: str) -> None:
        node = self.nodes[name]
        with open(node.log, "ab") as log:
            node.proc = subprocess.Popen(
                [sys.executable, "-m", "raftkv", "--id", name, "--data", str(node.data),
                 "--client-port", str(node.client_port), "--bind", "127.0.0.1", *node.args],
                stdout=subprocess.DEVNULL, stderr=log, env=self.env)
        self._wait_listening(node)

    def _wait_listening(self, node: LocalNode, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError(f"{node.name} exited: {node.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", node.client_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{node.name} never listened")

    def kill(self, name: str) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(signal.SIGKILL)
            node.proc.wait()
        node.proc = None

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def close(self) -> None:
        for name in self.nodes:
            self.kill(name)

    def __enter__(self) -> "LocalCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def running(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.proc is not None]

    # ---- requests --------------------------------------------------------------------

    def call(self, name: str, op: str, timeout: float = CALL_TIMEOUT, **fields) -> dict:
        client = Client(self.nodes[name].client_port, timeout)
        try:
            return client.call(op, **fields)
        finally:
            client.close()

    def status(self, name: str) -> dict:
        return self.call(name, "status")

    def events(self, name: str, event: str) -> list[dict]:
        lines = self.nodes[name].log.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["event"] == event]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "condition"):
        """Poll `predicate` until it returns something truthy; that value is returned."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except OSError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)

    def leaders(self, among=None) -> list[str]:
        found = []
        for name in among or self.running():
            try:
                if self.status(name)["role"] == "leader":
                    found.append(name)
            except OSError:
                pass
        return found

    def wait_leader(self, among=None, timeout: float = 10.0) -> str:
        """The only node of `among` (default: running nodes) that says it leads, once there is one."""
        def one():
            found = self.leaders(among)
            return found[0] if len(found) == 1 else None
        return self.wait_for(one, timeout, "a leader")

    def write(self, key: str, value, among=None, **fields) -> dict:
        """Write through the current leader, retrying refusals until one is acknowledged."""
        def attempt():
            reply = self.call(self.wait_leader(among), "write", key=key, value=value, **fields)
            return reply if reply["ok"] else None
        return self.wait_for(attempt, what=f"write {key}={value}")

    def read(self, key: str, among=None):
        def attempt():
            reply = self.call(self.wait_leader(among), "read", key=key)
            return reply if reply["ok"] else None
        return self.wait_for(attempt, what=f"read {key}")["value"]

    # ---- faults ----------------------------------------------------------------------

    def isolate(self, name: str) -> None:
        """Cut every link between `name` and the other running nodes, both directions."""
        others = [n for n in self.running() if n != name]
        self.call(name, "drop", value=others)
        for other in others:
            self.call(other, "drop", value=[name])

    def heal(self) -> None:
        for name in self.running():
            self.call(name, "drop", value=[])
