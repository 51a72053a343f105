"""Peer transport: Raft messages as JSON lines over TCP, one outgoing connection per peer.

Raft here is message passing (as in etcd's raft): a reply is just another message, sent on the
replier's own connection. Delivery is best effort: while a peer is unreachable its messages are
dropped, and Raft's retries (heartbeats, re-sent AppendEntries) make up for it. Connections are
retried forever, so peer names that resolve only later (Docker DNS) are fine.

`drop` is the test-only link cutter (``--test-control``): traffic to and from those peers is
discarded, as an iptables partition would.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque

from .events import emit

MAX_QUEUED = 4096  # per peer: beyond this a stalled peer (SIGSTOP) gets nothing new
MAX_LINE = 256 * 1024 * 1024  # snapshots travel as one message
RETRY_MIN, RETRY_MAX = 0.05, 1.0
# A connection attempt, and a write the peer does not take in, are given up after this long and
# the connection made again. Under a partition (iptables DROP) a SYN is retransmitted with
# exponential backoff and a written segment too (TCP's RTO doubling): without a bound, a link
# broken during a partition came back up to tens of seconds after the heal (a cluster of fresh
# members stood without a leader for 24 s, its candidate's pre-votes never sent).
CONNECT_TIMEOUT = 0.5
DRAIN_TIMEOUT = 1.0


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


class _Link:
    """The outgoing connection to one peer, with its queue of messages."""

    def __init__(self, owner: str, peer: str, addr: str):
        self.owner, self.peer, self.addr = owner, peer, addr
        self.queue: deque[bytes] = deque()
        self.wakeup = asyncio.Event()
        self.connected = False
        self.task = asyncio.get_running_loop().create_task(self._run())

    def send(self, line: bytes) -> None:
        if self.connected and len(self.queue) < MAX_QUEUED:
            self.queue.append(line)
            self.wakeup.set()

    async def _run(self) -> None:
        delay = RETRY_MIN
        while True:
            try:
                host, port = split_addr(self.addr)
                _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (OSError, ValueError, asyncio.TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            delay = RETRY_MIN
            self.connected = True
            try:
                await self._pump(writer)
            except (OSError, ConnectionError, asyncio.TimeoutError):
                pass
            finally:
                self.connected = False
                self.queue.clear()
                writer.close()
            emit(self.owner, "peer-disconnected", peer=self.peer)

    async def _pump(self, writer: asyncio.StreamWriter) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                writer.write(self.queue.popleft())
            await asyncio.wait_for(writer.drain(), DRAIN_TIMEOUT)
            if writer.is_closing():
                raise ConnectionError("closed")


class Transport:
    def __init__(self, node_id: str):
        self.node_id = node_id
        self.on_message = lambda msg: None  # the node installs its handler
        self.addrs: dict[str, str] = {}
        self.links: dict[str, _Link] = {}
        self.drop: set[str] = set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, bind: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, bind, port, limit=MAX_LINE)

    def set_addr(self, peer: str, addr: str) -> None:
        """Learn (or update) where a peer listens, and start connecting to it."""
        if peer == self.node_id or self.addrs.get(peer) == addr:
            return
        self.addrs[peer] = addr
        old = self.links.pop(peer, None)
        if old is not None:
            old.task.cancel()
        self.links[peer] = _Link(self.node_id, peer, addr)

    def send(self, peer: str, msg: dict) -> None:
        link = self.links.get(peer)
        if link is not None and peer not in self.drop:
            link.send(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                except (ValueError, RecursionError):
                    break  # not a raftkv peer
                if isinstance(msg, dict) and msg.get("from") not in self.drop:
                    self.on_message(msg)
        except (OSError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self.links.values():
            link.task.cancel()
