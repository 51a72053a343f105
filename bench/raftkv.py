"""Benchmark raftkv: acknowledged writes/s and linearizable reads/s on a local 3-node cluster.

    python3 bench/raftkv.py [--seconds 3] [--clients 1,16,64] [--simulate-page-cache]

Each client has its own connection to the leader and one request outstanding at a time (as a
harness process does); writes carry (client, seq) so the session table is exercised. fsync is on
(the default). Prints one row per (operation, clients): throughput, p50 and p99 latency.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.raftkv_cluster import LocalCluster  # noqa: E402


async def _client(port: int, op: str, name: str, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for seq in itertools.count():
        if time.monotonic() >= until:
            break
        req = {"id": seq, "op": op, "key": f"k{seq % 16}"}
        if op == "write":
            req.update(value=seq, client=name, seq=seq)
        start = time.monotonic()
        writer.write(json.dumps(req).encode() + b"\n")
        reply = json.loads(await reader.readline())
        if not reply["ok"]:
            raise SystemExit(f"{op} failed: {reply}")
        latencies.append(time.monotonic() - start)
    writer.close()


async def _measure(port: int, op: str, clients: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    start = time.monotonic()
    until = start + seconds
    await asyncio.gather(*(_client(port, op, f"{op}-{clients}-{i}", until, latencies)
                           for i in range(clients)))
    return len(latencies) / (time.monotonic() - start), sorted(latencies)


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--clients", default="1,16,64")
    p.add_argument("--simulate-page-cache", action="store_true",
                   help="run the nodes as the harness does (unsynced writes kept in memory)")
    args = p.parse_args()
    counts = [int(n) for n in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(Path(tmp), 3, election_ms=300, heartbeat_ms=50,
                         extra_args=["--simulate-page-cache"] if args.simulate_page_cache else []
                         ) as cluster:
        leader = cluster.wait_leader()
        cluster.write("warm-up", 0)
        port = cluster.nodes[leader].client_port
        cache = ", simulated page cache" if args.simulate_page_cache else ""
        print(f"raftkv, 3 local nodes, fsync on{cache}, {args.seconds:g} s per row, leader {leader}")
        print(f"{'op':<6} {'clients':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for op in ("write", "read"):
            for clients in counts:
                rate, lat = asyncio.run(_measure(port, op, clients, args.seconds))
                print(f"{op:<6} {clients:>7} {rate:>9.0f} {_percentile(lat, 0.5) * 1000:>8.2f} "
                      f"{_percentile(lat, 0.99) * 1000:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
