"""A userspace packet queue: delay with jitter, reordering and duplication without netem.

    python3 -m rjtools.netqueue --queue 7 [--delay-ms 80 --jitter-ms 20] [--reorder 0.5 --reorder-ms 60]
        [--duplicate 0.3] [--mark 0x524a] [--stats /run/rj/netqueue.json] [--ready FILE]

iptables sends the packets to shape to NFQUEUE number `--queue` (`-j NFQUEUE --queue-num 7
--queue-bypass`: while no program listens, packets pass, so a crashed handler never becomes a
partition). This program binds that queue over a raw NETLINK_NETFILTER socket (the
nfnetlink_queue messages, written out here: Debian has no Python binding for libnetfilter_queue)
and gives each packet its ACCEPT verdict later:

- delay: each packet is held `delay ± jitter` ms (normal distribution, never below 0), and never
  released before the packet queued ahead of it, so delay alone does not reorder;
- reorder: a share `--reorder` of packets goes at once, the rest is held `--reorder-ms`, so later
  packets overtake held ones (netem's `reorder`);
- duplicate: a share `--duplicate` of packets is sent twice, the copy through a raw socket that
  carries `--mark`, which the iptables rule excludes so the copy is not queued again.

Verdicts may be given in any order: the kernel matches them by packet id. TCP hides all of this
from a program above it (it reorders and deduplicates segments): what a Raft node sees is delay
and stalls. `--stats` is rewritten about once a second with the counts so far (the proof that
packets pass through the handler). SIGTERM releases every held packet, then exits.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
SO_MARK = 36
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN, NFQA_CFG_MASK, NFQA_CFG_FLAGS = 1, 2, 3, 4, 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_COPY_META, NFQNL_COPY_PACKET = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_ACCEPT = 1
QUEUE_MAXLEN = 8192


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(msg_type: int, queue: int, attrs: bytes, seq: int, flags: int = NLM_F_REQUEST) -> bytes:
    """nlmsghdr + nfgenmsg (AF_UNSPEC, version 0, queue number big-endian) + attributes."""
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg_type
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def config_messages(queue: int, copy_packet: bool) -> list[bytes]:
    """Bind the queue, choose how much of each packet to copy, fail open when full."""
    bind = attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))
    mode = NFQNL_COPY_PACKET if copy_packet else NFQNL_COPY_META
    params = attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0xFFFF if copy_packet else 0, mode))
    maxlen = attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
    flags = attr(NFQA_CFG_FLAGS, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
    mask = attr(NFQA_CFG_MASK, struct.pack("!I", NFQA_CFG_F_FAIL_OPEN))
    ack = NLM_F_REQUEST | NLM_F_ACK
    return [message(NFQNL_MSG_CONFIG, queue, bind, 1, ack),
            message(NFQNL_MSG_CONFIG, queue, params + maxlen, 2, ack),
            message(NFQNL_MSG_CONFIG, queue, flags + mask, 3, ack)]


def verdict_message(queue: int, packet_id: int, verdict: int = NF_ACCEPT) -> bytes:
    return message(NFQNL_MSG_VERDICT, queue, attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, packet_id)), 0)


def parse_attrs(data: bytes) -> dict[int, bytes]:
    attrs, pos = {}, 0
    while pos + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, pos)
        if length < 4:
            break
        attrs[kind & 0x7FFF] = data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    return attrs


def parse_messages(data: bytes) -> list[tuple[int, bytes]]:
    """(type, payload after nlmsghdr) for every netlink message in one datagram."""
    out, pos = [], 0
    while pos + 16 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, pos)
        if length < 16:
            break
        out.append((kind, data[pos + 16:pos + length]))
        pos += (length + 3) & ~3
    return out


def packet_of(payload: bytes) -> tuple[int, bytes | None] | None:
    """(packet id, packet bytes or None) of an NFQNL_MSG_PACKET payload (after nlmsghdr)."""
    attrs = parse_attrs(payload[4:])  # skip nfgenmsg
    hdr = attrs.get(NFQA_PACKET_HDR)
    if hdr is None or len(hdr) < 4:
        return None
    return struct.unpack_from("!I", hdr)[0], attrs.get(NFQA_PAYLOAD)


class Shaper:
    """When each packet goes, and whether it goes twice: the policy, apart from the socket."""

    def __init__(self, rng: random.Random, delay_ms: float = 0, jitter_ms: float = 0, reorder: float = 0,
                 reorder_ms: float = 0, duplicate: float = 0):
        self.rng = rng
        self.delay, self.jitter = delay_ms / 1000, jitter_ms / 1000
        self.reorder, self.reorder_hold = reorder, reorder_ms / 1000
        self.duplicate = duplicate
        self._last_release = 0.0

    def release_at(self, now: float) -> float:
        if self.reorder_hold:
            return now if self.rng.random() < self.reorder else now + self.reorder_hold
        hold = max(0.0, self.rng.gauss(self.delay, self.jitter)) if self.jitter else self.delay
        self._last_release = max(now + hold, self._last_release)  # FIFO: delay alone keeps order
        return self._last_release

    def duplicates(self) -> bool:
        return self.duplicate > 0 and self.rng.random() < self.duplicate


class Queue:
    def __init__(self, queue: int, shaper: Shaper, mark: int, stats_path: str | None):
        self.queue, self.shaper, self.stats_path = queue, shaper, stats_path
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (NET_ADMIN)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.raw = None
        if shaper.duplicate > 0:
            self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            self.raw.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        self.held: list[tuple[float, int, int]] = []  # (release time, order, packet id)
        self.counts = {"queued": 0, "released": 0, "duplicated": 0, "held_max": 0}
        self.stopping = False
        for msg in config_messages(queue, copy_packet=self.raw is not None):
            self.sock.send(msg)
            self._expect_ack()

    def _expect_ack(self) -> None:
        for kind, payload in parse_messages(self.sock.recv(65536)):
            if kind == NLMSG_ERROR:
                error = struct.unpack_from("=i", payload)[0]
                if error:
                    raise OSError(-error, f"nfnetlink_queue config: {os.strerror(-error)}")

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        next_stats = 0.0
        order = 0
        while not self.stopping:
            now = time.monotonic()
            self._release(now)
            if now >= next_stats:
                self._write_stats()
                next_stats = now + 1.0
            timeout = min(1.0, max(0.0, self.held[0][0] - now)) if self.held else 1.0
            try:
                ready, _, _ = select.select([self.sock], [], [], timeout)
            except InterruptedError:
                continue
            if not ready:
                continue
            try:
                data = self.sock.recv(1 << 17)
            except InterruptedError:
                continue
            now = time.monotonic()
            for kind, payload in parse_messages(data):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                parsed = packet_of(payload)
                if parsed is None:
                    continue
                packet_id, packet = parsed
                self.counts["queued"] += 1
                if self.raw is not None and packet and self.shaper.duplicates():
                    self._send_copy(packet)
                order += 1
                heapq.heappush(self.held, (self.shaper.release_at(now), order, packet_id))
            self.counts["held_max"] = max(self.counts["held_max"], len(self.held))
        self._release(float("inf"))
        self._write_stats()

    def _release(self, now: float) -> None:
        while self.held and self.held[0][0] <= now:
            _, _, packet_id = heapq.heappop(self.held)
            self.sock.send(verdict_message(self.queue, packet_id))
            self.counts["released"] += 1

    def _send_copy(self, packet: bytes) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return
        try:
            self.raw.sendto(packet, (socket.inet_ntoa(packet[16:20]), 0))
            self.counts["duplicated"] += 1
        except OSError:
            pass  # a copy that cannot go is a copy not made; the original still goes

    def _write_stats(self) -> None:
        if not self.stats_path:
            return
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({**self.counts, "held": len(self.held), "pid": os.getpid()}, f)
        os.replace(tmp, self.stats_path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rjtools.netqueue")
    p.add_argument("--queue", type=int, required=True)
    p.add_argument("--delay-ms", type=float, default=0)
    p.add_argument("--jitter-ms", type=float, default=0)
    p.add_argument("--reorder", type=float, default=0, help="share of packets sent at once (the rest is held)")
    p.add_argument("--reorder-ms", type=float, default=0)
    p.add_argument("--duplicate", type=float, default=0)
    p.add_argument("--mark", type=lambda s: int(s, 0), default=0x524A)
    p.add_argument("--stats")
    p.add_argument("--seed", type=int)
    p.add_argument("--ready", help="a file to create once the queue is bound")
    args = p.parse_args(argv)
    shaper = Shaper(random.Random(args.seed), args.delay_ms, args.jitter_ms, args.reorder, args.reorder_ms,
                    args.duplicate)
    try:
        queue = Queue(args.queue, shaper, args.mark, args.stats)
    except OSError as e:
        sys.stderr.write(f"netqueue: cannot bind queue {args.queue}: {e}\n")
        return 1
    if args.ready:
        open(args.ready, "w").close()
    queue.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
