"""The client of the raft-jepsen client protocol: JSON lines over TCP (docs/architecture.md,
"client protocol"), which raftkv speaks and any system may speak.

One client per logical process, talking to its home node. What each outcome means for the
history, and why:

- a reply `ok: true` → `ok`;
- a reply with `definite: true` (not-leader, cas-mismatch, bad-request) → `fail`: the node
  promises the command did not and will not take effect. `not-leader` naming a leader is
  followed, at most `MAX_REDIRECTS` hops, with the same (client, seq): still a single command;
- any other error reply → `info`: it may have taken effect;
- no answering node before anything was sent → `fail`: nothing left us. A new connection is
  only trusted once the node has answered a `status` request on it: a port published by Docker
  accepts connections even while the node is down (its proxy then hangs up), and a paused node's
  kernel accepts them too, so "connected" alone does not mean a node will read the command;
- a timeout, or the connection lost after the request was sent → `info`: it may have reached
  the node and be applied later. The connection is dropped, so a late reply cannot be mistaken
  for the answer to a later request;
- a node gone silent (paused, or its host frozen) is given up sooner than `timeout`: when a
  request has waited `SILENT_AFTER_S`, a `status` is asked on a fresh connection, and if that is
  not answered within `PROBE_TIMEOUT_S` the request ends `info` at once. A live node answers
  status at once even while a command waits for its commit, so only silence is cut short.
  Otherwise every client that followed a redirect to a paused leader would wait out the whole
  timeout there, and the history's failover would measure the client's timeout, not the
  cluster's election. A new connection's handshake likewise waits `HANDSHAKE_TIMEOUT_S` at most.

The completion's `node` is the node that gave the final answer (or was being asked).

With `retries` (what a real client library does, and what raftkv's session table makes safe), a
command whose outcome is unknown is sent again, up to `retries` more times, with the same
(client, seq), to the next node in turn (its redirect leads to the leader), reconnecting as
needed. Only an `ok` settles an earlier unknown attempt: a definite refusal of a retry says that
this attempt did nothing, not the one before it, so the command then stays `info`. Reads are
never retried: they change nothing, and a final read must come from the node it names.
"""

from __future__ import annotations

import json
import secrets
import select
import socket
import time
from typing import Mapping

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nodes import Node

MAX_REDIRECTS = 2
RETRY_BACKOFF_S = 0.25  # between retries: long enough for a redirect target to have been elected
_HANDSHAKE = b'{"id": 0, "op": "status"}\n'  # id 0: commands are numbered from 1
TIMEOUT_S = 3.0  # above raftkv's own 2 s commit wait, so its definite/indefinite answer comes first
SILENT_AFTER_S = 0.5  # a request unanswered this long: is the node still there? (module docstring)
PROBE_TIMEOUT_S = 0.25  # a live node answers status in milliseconds, even under packet delays
HANDSHAKE_TIMEOUT_S = 0.5  # the same status, on a new connection


class _NotSent(Exception):
    """Nothing of this request left the client."""


class _Unknown(Exception):
    """The request may have reached the node; its outcome is unknown."""


class ProtocolClient:
    def __init__(
        self,
        peers: Mapping[str, tuple[str, int]] | None = None,
        *,
        timeout: float = TIMEOUT_S,
        retries: int = 0,
        backoff: float = RETRY_BACKOFF_S,
        silent_after: float = SILENT_AFTER_S,
    ):
        """`peers`: every node's client address by name, to follow redirects to the leader and
        to retry through. `retries`: how many times a command whose outcome is unknown is sent
        again (see the module docstring), `backoff` seconds apart."""
        self._peers = dict(peers or {})
        self._timeout = timeout
        self._retries = retries
        self._backoff = backoff
        self._silent_after = silent_after
        self._home: str | None = None
        self._conns: dict[str, tuple[socket.socket, object]] = {}
        self._client = f"c-{secrets.token_hex(4)}"  # with seq, names each command exactly once
        self._seq = 0

    def open(self, node: Node) -> None:
        self._home = node.name
        self._peers[node.name] = node.client_addr

    def invoke(self, op: Op) -> Op:
        self._seq += 1
        request = {"id": self._seq, "client": self._client, "seq": self._seq, "op": op.f, "key": op.key}
        if op.f != "read":
            request["value"] = op.value
        done = self._attempt(op, request, self._home)
        if op.f == "read" or done.type != "info":
            return done
        targets = self._retry_targets()
        for attempt in range(1, self._retries + 1):
            time.sleep(self._backoff)
            retry = self._attempt(op, request, targets[attempt % len(targets)])
            if retry.type == "ok":
                return retry
            done = retry.completed("info", error=f"{retry.error} (retry {attempt} of {self._retries})")
        return done

    def _attempt(self, op: Op, request: dict, target: str) -> Op:
        """One sending of `request`, following not-leader redirects."""
        hops = 0
        while True:
            try:
                reply = self._exchange(target, request)
            except _NotSent as e:
                return op.completed("fail", node=target, error=str(e))
            except _Unknown as e:
                return op.completed("info", node=target, error=str(e))
            if reply.get("ok") is True:
                value = reply.get("value") if op.f == "read" else op.value
                return op.completed("ok", node=target, value=value)
            error = str(reply.get("error") or "unknown error")
            definite = reply.get("definite") is True
            leader = reply.get("leader")
            if error == "not-leader" and definite and leader and leader != target and hops < MAX_REDIRECTS:
                target, hops = leader, hops + 1
                continue
            return op.completed("fail" if definite else "info", node=target, error=error)

    def _retry_targets(self) -> list[str]:
        """The home node, then every other node: a retry goes to the next one in turn, so that a
        dead or cut-off home node does not take every retry with it."""
        return [self._home] + sorted(n for n in self._peers if n != self._home)

    def close(self) -> None:
        for node in list(self._conns):
            self._drop(node)

    def _exchange(self, node: str, request: dict) -> dict:
        sock, reader = self._connection(node)
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            if not self._answers_or_lives(node, sock):
                self._drop(node)
                raise _Unknown("timeout (node silent: no status answer either)")
            line = reader.readline()
        except socket.timeout:
            self._drop(node)
            raise _Unknown("timeout") from None
        except OSError as e:
            self._drop(node)
            raise _Unknown(f"lost connection ({e.strerror or type(e).__name__})") from None
        if not line:
            self._drop(node)
            raise _Unknown("lost connection")
        try:
            reply = json.loads(line)
        except ValueError:
            self._drop(node)
            raise _Unknown("malformed reply") from None
        if not isinstance(reply, dict) or reply.get("id") != request["id"]:
            self._drop(node)
            raise _Unknown("reply does not answer the request")
        return reply

    def _answers_or_lives(self, node: str, sock: socket.socket) -> bool:
        """False when the node has not answered within `silent_after` and does not answer a
        status on a fresh connection either; True otherwise (the reply is then read as usual,
        within the socket's own timeout)."""
        if self._silent_after >= self._timeout:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], self._silent_after)
        except OSError:
            return True  # the read that follows reports it
        if readable:
            return True
        addr = self._peers.get(node)
        return addr is None or status(addr, min(PROBE_TIMEOUT_S, self._timeout)) is not None

    def _connection(self, node: str):
        held = self._conns.get(node)
        if held is not None and _closed_by_peer(held[0]):
            self._drop(node)  # e.g. the node restarted: reconnect rather than send into a dead socket
            held = None
        if held is None:
            addr = self._peers.get(node)
            if addr is None:
                raise _NotSent(f"no address for node {node}")
            held = self._conns[node] = self._connect(addr)
        return held

    def _connect(self, addr: tuple[str, int]):
        """A connection to a node that has answered on it (see the module docstring)."""
        handshake = min(self._timeout, HANDSHAKE_TIMEOUT_S)
        try:
            sock = socket.create_connection(addr, timeout=handshake)
        except socket.timeout:
            raise _NotSent("connect timeout") from None
        except OSError as e:
            raise _NotSent(f"cannot connect ({e.strerror or type(e).__name__})") from None
        reader = sock.makefile("rb")
        try:
            sock.sendall(_HANDSHAKE)
            reply = json.loads(reader.readline() or b"null")
        except (OSError, ValueError):  # reset, hung up, timed out (socket.timeout is an OSError)
            reply = None
        sock.settimeout(self._timeout)
        if not (isinstance(reply, dict) and reply.get("id") == 0):
            reader.close()
            sock.close()
            raise _NotSent("node not answering")
        return sock, reader

    def _drop(self, node: str) -> None:
        sock, reader = self._conns.pop(node)
        reader.close()
        sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """True if the peer has closed or reset an idle connection (so nothing we send can arrive)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def request(addr: tuple[str, int], req: dict, timeout: float) -> dict | None:
    """One request on a connection of its own (administration: `add`, `remove`); the reply, or
    None when the node does not answer within `timeout` (the request may still take effect)."""
    try:
        with socket.create_connection(addr, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(json.dumps({"id": 1, **req}).encode() + b"\n")
            reply = json.loads(sock.makefile("rb").readline())
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) else None


def status(addr: tuple[str, int], timeout: float = 1.0, **extra: bool) -> dict | None:
    """A node's `status` reply (a dict with `ok: true` and an integer `term`), or None when it
    does not answer so within `timeout`. `extra` asks for more (raftkv: `digest=True`, a hash of
    its applied state; `terms=True`, its committed log's terms)."""
    asked = json.dumps({"id": 0, "op": "status", **extra}).encode() + b"\n" if extra else _HANDSHAKE
    try:
        with socket.create_connection(addr, timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(asked)
            line = sock.makefile("rb").readline()
        reply = json.loads(line)
    except (OSError, ValueError):
        return None
    if not isinstance(reply, dict) or not reply.get("ok") or not isinstance(reply.get("term"), int):
        return None
    return reply
