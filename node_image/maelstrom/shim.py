"""A Maelstrom node behind real TCP: one shim per container, the node program its child.

    python3 -m maelstrom --id n1 --nodes n1=10.0.0.2,n2=10.0.0.3,n3=10.0.0.4 \\
        [--peer-port 7000] [--client-port 8000] [--bind 0.0.0.0] [--timeout-ms 2000] [--node-log FILE] \
        -- PROGRAM [ARG]...

Maelstrom (jepsen-io/maelstrom, doc/protocol.md) runs a node as a process that reads JSON
messages `{"src", "dest", "body"}` on stdin and writes them on stdout, and simulates the network
between nodes. Here the network is real, so that the harness's faults act on it:

- the shim starts PROGRAM (stderr to `--node-log`), sends it `init` with this node's id and every
  node's, and waits for `init_ok` before it listens on any port (so "listening" means ready);
- a message the node sends to another node goes over TCP to that node's shim (`--peer-port`),
  one connection per peer, which hands it to its program. A message that cannot be delivered now
  (the peer unreachable, killed, partitioned away) is dropped, as Maelstrom's network may drop
  messages: no retries, nothing queued for later beyond what TCP already holds;
- the harness's clients connect to `--client-port` and speak the raft-jepsen client protocol
  (docs/protocol.md). `read`, `write` and `cas` become Maelstrom `lin-kv` requests from a client
  id of this shim's (`c<index>00001`, ...: a node may answer a client from any node, as in
  Maelstrom; the answer travels to the client's shim like any other message), and the replies
  come back mapped per Maelstrom's error table (`reply`);
- messages to Maelstrom's services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`) get error 10,
  not-supported: the shim provides no services.

The shim keeps no state on disk: a killed node comes back as a fresh process that knows nothing,
as a Maelstrom node that crashed would. It exits when its program does, so the harness sees the
node down. Its own log (stderr) is one JSON object per line, with `ts`, `node`, `event`."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import itertools
import json
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

SERVICES = ("lin-kv", "seq-kv", "lww-kv", "lin-tso")
CLIENT_BLOCK = 100_000  # client ids of node i are c{i * CLIENT_BLOCK + k}: a reply finds its shim
INIT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 0.5
SEND_TIMEOUT_S = 1.0
RECONNECT_AFTER_S = 0.2  # after a failed connect, messages to that peer are dropped this long
OUTBOX = 10_000  # messages waiting for a peer's connection; beyond, they are dropped
TCP_USER_TIMEOUT_MS = 2000  # unacknowledged data older than this closes the connection: lost
LINE_LIMIT = 16 << 20

# Maelstrom's error table (doc/protocol.md): code -> (name, definite). Codes not listed, and every
# code of 1000 and above (a node's own), are indefinite.
ERRORS: dict[int, tuple[str, bool]] = {
    0: ("timeout", False),
    1: ("node-not-found", True),
    10: ("not-supported", True),
    11: ("temporarily-unavailable", True),
    12: ("malformed-request", True),
    13: ("crash", False),
    14: ("abort", True),
    20: ("key-does-not-exist", True),
    21: ("key-already-exists", True),
    22: ("precondition-failed", True),
    30: ("txn-conflict", True),
}
KEY_DOES_NOT_EXIST = 20
PRECONDITION_FAILED = 22


def emit(node: str, event: str, **fields: Any) -> None:
    record = {"ts": time.time(), "node": node, "event": event, **fields}
    sys.stderr.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stderr.flush()


# --- the pure part: requests and replies ---------------------------------------------------------


def maelstrom_key(key: Any) -> Any:
    """The harness's keys are `k0`, `k1`, ...; Maelstrom's lin-kv workload uses integers."""
    if isinstance(key, str) and re.fullmatch(r"k(0|[1-9][0-9]{0,17})", key):
        return int(key[1:])
    return key


class BadRequest(ValueError):
    pass


def to_body(request: dict) -> dict:
    """The lin-kv request body (without msg_id) for a client-protocol request."""
    op = request.get("op")
    if op not in ("read", "write", "cas"):
        raise BadRequest(f"a Maelstrom lin-kv node has no {op!r} (it serves read, write, cas)")
    if "key" not in request:
        raise BadRequest("no key")
    body: dict[str, Any] = {"type": op, "key": maelstrom_key(request["key"])}
    if op == "write":
        if "value" not in request:
            raise BadRequest("write without value")
        body["value"] = request["value"]
    elif op == "cas":
        value = request.get("value")
        if not (isinstance(value, list) and len(value) == 2):
            raise BadRequest("cas needs value [old, new]")
        body["from"], body["to"] = value
    return body


def reply(op: str, body: dict) -> dict:
    """The client-protocol reply (without id) to a lin-kv reply `body` for an `op` request.

    `<op>_ok` is ok (a read's value); an error is definite or not as Maelstrom's table says, with
    two readings of our own: key-does-not-exist on a read is a read of nothing (null, as the
    register model has a never-written key), and precondition-failed on a cas is our definite
    `cas-mismatch`. Anything else is an answer we cannot read: its outcome unknown."""
    kind = body.get("type")
    if kind == f"{op}_ok":
        return {"ok": True, "value": body.get("value")} if op == "read" else {"ok": True}
    if kind == "error":
        code = body.get("code")
        if op == "read" and code == KEY_DOES_NOT_EXIST:
            return {"ok": True, "value": None}
        if op == "cas" and code == PRECONDITION_FAILED:
            return {"ok": False, "error": "cas-mismatch", "definite": True, "text": body.get("text")}
        name, definite = ERRORS.get(code, (f"error-{code}", False)) if isinstance(code, int) else ("bad-error", False)
        return {"ok": False, "error": name, "definite": definite, "code": code, "text": body.get("text")}
    return {"ok": False, "error": "unexpected-reply", "definite": False, "message": f"a {kind!r} answers {op}"}


def client_home(client: str, nodes: list[str]) -> str | None:
    """The node whose shim serves client id `client` (`c<index * CLIENT_BLOCK + k>`)."""
    if not re.fullmatch(r"c[0-9]+", client):
        return None
    index = int(client[1:]) // CLIENT_BLOCK
    return nodes[index - 1] if 1 <= index <= len(nodes) else None


# --- the shim --------------------------------------------------------------------------------------


@dataclass
class Peer:
    name: str
    host: str
    queue: asyncio.Queue
    failed_at: float = -1e9


class Shim:
    def __init__(self, args: argparse.Namespace):
        self.id = args.id
        self.addrs: dict[str, str] = args.nodes
        self.nodes = list(self.addrs)
        self.index = self.nodes.index(self.id) + 1
        self.args = args
        self.msg_ids = itertools.count(1)
        self.client_ids = itertools.count(self.index * CLIENT_BLOCK + 1)
        self.waiting: dict[tuple[str, int], asyncio.Future] = {}  # (client id, msg_id) -> its reply
        self.peers: dict[str, Peer] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.dropped = 0

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(0))
        with open(self.args.node_log, "ab") as node_log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.args.program, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=node_log,
                cwd=os.path.dirname(self.args.program[0]) or None, limit=LINE_LIMIT, preexec_fn=_die_with_parent)
        emit(self.id, "started", pid=self.proc.pid, program=self.args.program)
        reader = loop.create_task(self.read_node())
        exited = loop.create_task(self.proc.wait())
        init = self.request(self.id, {"type": "init", "node_id": self.id, "node_ids": self.nodes}, f"c{self.index * CLIENT_BLOCK}")
        done, _ = await asyncio.wait([init, exited], timeout=INIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        if init not in done or init.result().get("type") != "init_ok":
            why = "exited" if exited in done else f"answered {init.result()}" if init in done else "no answer"
            emit(self.id, "fatal", message=f"the node did not answer init with init_ok ({why})")
            self.proc.kill()
            return 1
        for name in self.nodes:
            if name != self.id:
                self.peers[name] = Peer(name, self.addrs[name], asyncio.Queue(OUTBOX))
                loop.create_task(self.send_loop(self.peers[name]))
        await asyncio.start_server(self.serve_peer, self.args.bind, self.args.peer_port, limit=LINE_LIMIT)
        await asyncio.start_server(self.serve_client, self.args.bind, self.args.client_port, limit=LINE_LIMIT)
        emit(self.id, "listening", peer_port=self.args.peer_port, client_port=self.args.client_port)
        await asyncio.wait([stop, exited], return_when=asyncio.FIRST_COMPLETED)
        if exited.done():
            emit(self.id, "node-exited", code=exited.result())
            return 1
        self.proc.kill()
        reader.cancel()
        return 0

    # messages out of the node

    async def read_node(self) -> None:
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            try:
                message = json.loads(line)
                dest, body = message["dest"], message["body"]
                if not isinstance(dest, str) or not isinstance(body, dict):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                emit(self.id, "bad-output", line=line[:200].decode(errors="replace"))
                continue
            self.route(message)

    def route(self, message: dict) -> None:
        dest = message["dest"]
        if dest == self.id:
            self.to_node(message)
        elif dest in self.peers:
            self.to_peer(self.peers[dest], message)
        elif dest in SERVICES:
            body = message["body"]
            self.to_node({"src": dest, "dest": self.id, "body": {
                "type": "error", "in_reply_to": body.get("msg_id"), "code": 10,
                "text": f"raft-jepsen's Maelstrom shim provides no {dest} service"}})
        elif (home := client_home(dest, self.nodes)) == self.id:
            self.to_client(message)
        elif home in self.peers:
            self.to_peer(self.peers[home], message)
        else:
            emit(self.id, "unknown-destination", dest=dest)

    def to_node(self, message: dict) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def to_client(self, message: dict) -> None:
        body = message["body"]
        future = self.waiting.pop((message["dest"], body.get("in_reply_to")), None)
        if future is not None and not future.done():
            future.set_result(body)

    def to_peer(self, peer: Peer, message: dict) -> None:
        if time.monotonic() - peer.failed_at < RECONNECT_AFTER_S:
            self.dropped += 1  # just failed to reach it: as lost as a message into a partition
            return
        try:
            peer.queue.put_nowait(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        except asyncio.QueueFull:
            self.dropped += 1

    async def send_loop(self, peer: Peer) -> None:
        """One connection to `peer`, made when there is something to send. Whatever cannot be
        sent at once (no connection, a write that does not drain) is lost."""
        writer = None
        while True:
            line = await peer.queue.get()
            if writer is None:
                writer = await self.connect(peer)
                if writer is None:
                    self.drop_queued(peer)
                    continue
            try:
                writer.write(line)
                while not peer.queue.empty():
                    writer.write(peer.queue.get_nowait())
                await asyncio.wait_for(writer.drain(), SEND_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError):
                writer.close()
                writer = None
                peer.failed_at = time.monotonic()
                self.drop_queued(peer)

    async def connect(self, peer: Peer):
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(peer.host, self.args.peer_port), CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError):
            peer.failed_at = time.monotonic()
            return None
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, TCP_USER_TIMEOUT_MS)
        return writer

    def drop_queued(self, peer: Peer) -> None:
        while not peer.queue.empty():
            peer.queue.get_nowait()
            self.dropped += 1

    # messages into the node

    async def serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async for line in reader:
                try:
                    message = json.loads(line)
                    dest = message["dest"]
                except (ValueError, KeyError, TypeError):
                    continue
                if dest == self.id:
                    self.to_node(message)
                elif client_home(str(dest), self.nodes) == self.id:
                    self.to_client(message)
        except (OSError, ValueError, asyncio.CancelledError):  # gone, garbled, or shutting down
            pass
        finally:
            writer.close()

    def request(self, dest: str, body: dict, client: str) -> asyncio.Future:
        """Send `body` from `client` to `dest` (this node); the future gets the reply's body."""
        msg_id = next(self.msg_ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[(client, msg_id)] = future
        self.to_node({"src": client, "dest": dest, "body": {**body, "msg_id": msg_id}})
        return future

    async def serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = f"c{next(self.client_ids)}"
        tasks = set()
        try:
            async for line in reader:
                task = asyncio.get_running_loop().create_task(self.answer(client, line, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except (OSError, ValueError, asyncio.CancelledError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            writer.close()

    async def answer(self, client: str, line: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError
        except ValueError:
            return self.send(writer, {"id": None, "ok": False, "error": "bad-request", "definite": True,
                                      "message": "not a JSON object"})
        rid = request.get("id")
        if request.get("op") == "status":
            return self.send(writer, {"id": rid, "ok": True, "node": self.id, "system": "maelstrom",
                                      "dropped": self.dropped, "time": time.time()})
        try:
            body = to_body(request)
        except BadRequest as e:
            return self.send(writer, {"id": rid, "ok": False, "error": "bad-request", "definite": True, "message": str(e)})
        future = self.request(self.id, body, client)
        try:
            answer = await asyncio.wait_for(future, self.args.timeout_ms / 1000)
        except asyncio.TimeoutError:
            self.waiting = {k: f for k, f in self.waiting.items() if f is not future}
            answer = None
        self.send(writer, {"id": rid, **(reply(body["type"], answer) if answer is not None else
                                         {"ok": False, "error": "timeout", "definite": False})})

    @staticmethod
    def send(writer: asyncio.StreamWriter, message: dict) -> None:
        if not writer.is_closing():
            writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the shim dies (prctl PR_SET_PDEATHSIG), so a
    shim killed alone never leaves its node running behind a closed port."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def _nodes(text: str) -> dict[str, str]:
    nodes = {}
    for item in text.split(","):
        name, sep, host = item.partition("=")
        if not (name and sep and host):
            raise argparse.ArgumentTypeError(f"bad node {item!r}: want ID=HOST")
        nodes[name] = host
    return nodes


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m maelstrom", description="Run a Maelstrom node behind real TCP.")
    p.add_argument("--id", required=True)
    p.add_argument("--nodes", required=True, type=_nodes, help="every node in order: n1=HOST,n2=HOST,...")
    p.add_argument("--peer-port", type=int, default=7000)
    p.add_argument("--client-port", type=int, default=8000)
    p.add_argument("--bind", default="0.0.0.0", help="listen address for both ports")
    p.add_argument("--timeout-ms", type=int, default=2000, help="answer `timeout` (indefinite) after this long")
    p.add_argument("--node-log", default="/var/log/rj/node.log", help="where the node's stderr goes")
    p.add_argument("program", nargs="+", help="the Maelstrom node and its arguments")
    args = p.parse_args(argv)
    if args.id not in args.nodes:
        p.error(f"--nodes must name this node ({args.id})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return asyncio.run(Shim(args).run())
    except OSError as e:
        emit(args.id, "fatal", message=f"cannot start: {e}")
        return 1
