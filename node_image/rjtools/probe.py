"""Measure what the network between nodes does: round-trip time, loss, reordering, duplication.

    python3 -m rjtools.probe echo --port 7999 [--ready FILE]   # on every node: a UDP echo server
    python3 -m rjtools.probe measure --port 7999 --count 40 --interval-ms 5 --wait-ms 600 IP...

`measure` sends `count` numbered datagrams to each peer's echo server, `interval-ms` apart, then
waits `wait-ms` after the last for the echoes, and prints one JSON object: per peer address
`{"sent", "received" (distinct echoes), "duplicates" (echoes seen again), "reordered" (echoes
that arrived after a later-numbered one), "rtt_ms": {"p50", "p90", "max"} | null}`. Every
datagram crosses the link both ways, so loss and delay are those of the round trip.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time

DATAGRAM = struct.Struct("!IQ")  # sequence number, send time (ns, monotonic)


def echo(port: int, ready: str | None) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    if ready:
        open(ready, "w").close()
    while True:
        data, addr = sock.recvfrom(2048)
        try:
            sock.sendto(data, addr)
        except OSError:
            pass


def summarize(sent: int, arrivals: list[tuple[int, float]]) -> dict:
    """The figures for one peer from the echoes in arrival order: (sequence, rtt ms)."""
    seen: set[int] = set()
    duplicates = reordered = 0
    highest = -1
    rtts = []
    for seq, rtt in arrivals:
        if seq in seen:
            duplicates += 1
            continue
        seen.add(seq)
        rtts.append(rtt)
        if seq < highest:
            reordered += 1
        highest = max(highest, seq)
    rtts.sort()

    def pct(q: float) -> float:
        return round(rtts[min(len(rtts) - 1, int(q * len(rtts)))], 2)

    rtt = {"p50": pct(0.5), "p90": pct(0.9), "max": round(rtts[-1], 2)} if rtts else None
    return {"sent": sent, "received": len(seen), "duplicates": duplicates, "reordered": reordered, "rtt_ms": rtt}


def measure(port: int, peers: list[str], count: int, interval: float, wait: float) -> dict:
    socks = {}
    for peer in peers:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((peer, port))
        s.setblocking(False)
        socks[s] = peer
    arrivals: dict[str, list[tuple[int, float]]] = {p: [] for p in peers}
    next_send, sent = time.monotonic(), 0
    deadline = None
    while True:
        now = time.monotonic()
        if sent < count and now >= next_send:
            for s in socks:
                try:
                    s.send(DATAGRAM.pack(sent, time.monotonic_ns()))
                except OSError:
                    pass  # refused (an ICMP from an earlier datagram): that one is lost
            sent += 1
            next_send += interval
            if sent == count:
                deadline = time.monotonic() + wait
        if deadline is not None and now >= deadline:
            break
        until = next_send if sent < count else deadline
        ready, _, _ = select.select(list(socks), [], [], max(0.0, until - time.monotonic()))
        for s in ready:
            while True:
                try:
                    data = s.recv(64)
                except OSError:  # BlockingIOError, or ECONNREFUSED: no echo server there
                    break
                if len(data) == DATAGRAM.size:
                    seq, t0 = DATAGRAM.unpack(data)
                    arrivals[socks[s]].append((seq, (time.monotonic_ns() - t0) / 1e6))
    return {peer: summarize(count, arrivals[peer]) for peer in peers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rjtools.probe")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--port", type=int, required=True)
    e.add_argument("--ready", help="a file to create once listening")
    m = sub.add_parser("measure")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--count", type=int, default=40)
    m.add_argument("--interval-ms", type=float, default=5)
    m.add_argument("--wait-ms", type=float, default=500)
    m.add_argument("peers", nargs="+")
    args = p.parse_args(argv)
    if args.cmd == "echo":
        echo(args.port, args.ready)
        return 0
    print(json.dumps(measure(args.port, args.peers, args.count, args.interval_ms / 1000, args.wait_ms / 1000)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
