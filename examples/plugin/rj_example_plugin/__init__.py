"""An example raft-jepsen system plugin: everything raft-jepsen needs to know of one system, in a
package of its own (docs/own-raft.md, "A Python plugin").

The system here is raftkv, which the node image already holds, so that the example runs as it is;
for your own system, install its program into the nodes in `setup` (or describe the image it needs
in `SystemKind.image`) and start that instead. What a plugin can do that a YAML file cannot:

- a client of its own (`Client`): any protocol (HTTP, gRPC, a binary one) and the judgement of
  each outcome: `ok`, `fail` only when the operation certainly did not happen, else `info`;
- options (`--system-opt KEY=VALUE`), parsed and checked before any container starts;
- any of the optional abilities (`Killable`, `Pausable`, `HasPrimaries`, `HasLogs`,
  `HasRoleLog`, ...) as methods on the adapter: the harness reads them off the class.
"""

from __future__ import annotations

import json
import socket
import uuid

from raft_jepsen.harness.history import CAS_MISMATCH, Op
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Setup, SystemKind, SystemOption
from raft_jepsen.harness.systems.daemon import Daemon

CLIENT_PORT, PEER_PORT = 8000, 7000
DATA_DIR, LOG_FILE, PID_FILE = "/var/lib/example-plugin", "/var/log/rj/node.log", "/run/rj/node.pid"
TIMEOUT_S = 3.0


class ExampleSystem:
    """The adapter: set a node up, tear it down, hand out clients; Killable (kill, start),
    Pausable (pause, resume) and HasLogs (log_files) because it has those methods."""

    def __init__(self, setup: Setup):
        self.nodes = setup.nodes
        self.bugs = setup.bugs
        self.election_timeout_ms = setup.options["election-timeout-ms"]
        self.daemon = Daemon(name="raftkv-plugin", pid_file=PID_FILE, log_file=LOG_FILE, port=CLIENT_PORT,
                             env={"PYTHONPATH": "/opt/raftkv"})

    def setup(self, node: Node) -> None:
        self.teardown(node)
        node.remote.exec(f"mkdir -p {DATA_DIR} && : >{LOG_FILE}")
        self.start(node)

    def teardown(self, node: Node) -> None:
        self.kill(node)
        node.remote.exec(f"rm -rf {DATA_DIR}")

    def client(self, node: Node) -> "ExampleClient":
        return ExampleClient({n.name: n.client_addr for n in self.nodes})

    def start(self, node: Node) -> None:
        peers = ",".join(f"{n.name}={n.ip}:{PEER_PORT}" for n in self.nodes)
        command = ["python3", "-m", "raftkv", "--id", node.name, "--peers", peers, "--data", DATA_DIR,
                   "--client-port", str(CLIENT_PORT), "--election-timeout-ms", str(self.election_timeout_ms)]
        for bug in self.bugs:
            command += ["--bug", bug]
        self.daemon.start(node, command)

    def kill(self, node: Node, at: float | None = None) -> None:
        self.daemon.kill(node, at)

    def pause(self, node: Node) -> None:
        self.daemon.pause(node)

    def resume(self, node: Node) -> None:
        self.daemon.resume(node)

    def log_files(self, node: Node) -> list[str]:
        return [LOG_FILE]


class ExampleClient:
    """One request at a time, to its node or to the leader that node names. What each outcome
    means: a reply `ok` is ok; a refusal the node calls definite is fail (it did not and will not
    happen); anything else (a timeout, a lost connection, an indefinite error) is info."""

    def __init__(self, addrs: dict[str, tuple[str, int]]):
        self.addrs = addrs
        self.home: str | None = None
        self.conn: tuple[socket.socket, object] | None = None
        self.client_id = uuid.uuid4().hex[:8]
        self.seq = 0

    def open(self, node: Node) -> None:
        self.home = node.name

    def invoke(self, op: Op) -> Op:
        self.seq += 1
        request = {"id": self.seq, "client": self.client_id, "seq": self.seq, "op": op.f, "key": op.key}
        if op.f != "read":
            request["value"] = op.value
        target = self.home
        for _ in range(3):  # the home node, then at most two redirects to the leader it names
            try:
                reply = self._exchange(target, request)
            except ConnectionRefusedError:
                return op.completed("fail", error="node down")  # nothing was sent
            except (OSError, ValueError) as e:
                return op.completed("info", error=f"no reply ({type(e).__name__})")
            if reply.get("ok") is True:
                return op.completed("ok", value=reply.get("value") if op.f == "read" else op.value)
            error = reply.get("error") or "error"
            if error == "not-leader" and reply.get("leader") in self.addrs and reply.get("leader") != target:
                target = reply["leader"]  # definite: this node did nothing; the same (client, seq) again
                continue
            if reply.get("definite") is True:
                return op.completed("fail", error=CAS_MISMATCH if error == "cas-mismatch" else error)
            return op.completed("info", error=error)
        return op.completed("fail", error="not-leader")

    def _exchange(self, target: str, request: dict) -> dict:
        """One request and its reply on a fresh connection to `target`: simple, and no late reply
        can ever be taken for the answer to a later request."""
        with socket.create_connection(self.addrs[target], timeout=TIMEOUT_S) as sock:
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline() or b"null")
        if not isinstance(reply, dict) or reply.get("id") != request["id"]:
            raise ValueError("no reply to this request")
        return reply

    def close(self) -> None:
        pass


def _timeout_ms(text: str) -> int:
    if not text.isdigit() or not 50 <= int(text) <= 10000:
        raise ValueError(f"expected milliseconds between 50 and 10000, got {text!r}")
    return int(text)


KIND = SystemKind(
    name="raftkv-plugin",
    about="raftkv through an example plugin's own adapter and client (examples/plugin)",
    adapter=ExampleSystem,
    client_port=CLIENT_PORT,
    peer_port=PEER_PORT,
    workloads=("register", "kv"),
    bugs={"ack-before-commit": "the leader acknowledges a write before it commits"},
    options={"election-timeout-ms": SystemOption(_timeout_ms, 300, "raftkv's election timeout base")},
)
