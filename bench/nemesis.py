"""How long faults take to be in effect, on a real cluster (default 5 raftkv containers).

For each fault op, the figures are the nemesis's own records: `applied_ms` (invoke start → every
node's iptables transaction committed, i.e. the kernel drops the packets from then on) and
`verified_ms` (invoke start → the probe matrix matched, which includes the probe's connect
timeout, since a cut shows only as a timeout). Process faults record `verified_ms` only (the
process reaped / stopped / listening again).

    python3 bench/nemesis.py [--nodes 5] [--rounds 10] [--probe-timeout 0.2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from raft_jepsen.harness import systems
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.docker_env import connect
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.image import ensure_image
from raft_jepsen.harness.nemesis.net import PROBE_TIMEOUT_S, Net
from raft_jepsen.harness.nemesis.partition import MIN_NODES, PartitionNemesis
from raft_jepsen.harness.nemesis.process import kill_nemesis, pause_nemesis
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT, RAFT_PORT


def op(f: str) -> Op:
    return Op(index=0, type="info", process="nemesis", f=f)


def row(name: str, values: list[int | None]) -> str:
    got = sorted(v for v in values if v is not None)
    missing = len(values) - len(got)
    if not got:
        return f"{name:<34} {'-':>6} {'-':>6} {'-':>6}   unverified {missing}"
    p90 = got[min(len(got) - 1, int(0.9 * len(got)))]
    extra = f"   unverified {missing}" if missing else ""
    return f"{name:<34} {statistics.median(got):>6.0f} {p90:>6} {got[-1]:>6}{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--probe-timeout", type=float, default=PROBE_TIMEOUT_S)
    args = parser.parse_args()

    client = connect()
    started = time.monotonic()
    with Cluster(client, ensure_image(client), size=args.nodes, client_port=CLIENT_PORT) as cluster:
        nodes = cluster.nodes
        print(f"cluster of {args.nodes} up in {time.monotonic() - started:.1f} s")
        system = systems.make(systems.get("raftkv"), nodes)
        for node in nodes:
            system.setup(node)
        leaders = lambda: system.primaries(nodes)  # noqa: E731
        rows: list[str] = []

        kinds = [k for k, n in MIN_NODES.items() if args.nodes >= n]
        net = Net(nodes, port=RAFT_PORT, probe_timeout=args.probe_timeout)
        for kind in kinds:
            nemesis = PartitionNemesis(net, [kind], random.Random(kind), leaders)
            nemesis.setup()
            start: dict[str, list] = {"applied_ms": [], "verified_ms": []}
            stop: dict[str, list] = {"applied_ms": [], "verified_ms": []}
            skipped = 0
            for _ in range(args.rounds):
                for record, f in ((start, "start-partition"), (stop, "stop-partition")):
                    value = nemesis.invoke(op(f)).value
                    if value.get("skipped"):  # isolate the leader while an election runs
                        skipped += 1
                        continue
                    for field in record:
                        record[field].append(value.get(field))
            nemesis.teardown()
            note = f"   skipped {skipped} (no leader)" if skipped else ""
            rows += [
                row(f"partition {kind}: applied", start["applied_ms"]) + note,
                row(f"partition {kind}: verified", start["verified_ms"]),
                row(f"heal after {kind}: verified", stop["verified_ms"]),
            ]

        for make, fault, heal in ((kill_nemesis, "kill", "start"), (pause_nemesis, "pause", "resume")):
            nemesis = make(system, nodes, random.Random(1), targets=["minority"], primaries=leaders)
            hit: list[int | None] = []
            healed: list[int | None] = []
            for _ in range(args.rounds):
                hit.append(nemesis.invoke(op(fault)).value["verified_ms"])
                healed.append(nemesis.invoke(op(heal)).value["verified_ms"])
            nemesis.teardown()
            rows += [row(f"{fault} minority: verified", hit), row(f"{heal} minority: verified", healed)]

        samples = []
        for _ in range(args.rounds):
            t = time.monotonic()
            leaders()
            samples.append(round((time.monotonic() - t) * 1000))
        rows.append(row("primaries (status on every node)", samples))

        for node in nodes:
            system.teardown(node)

    print(f"\n{args.rounds} rounds, {args.nodes} nodes, probe timeout {args.probe_timeout} s; ms from invoke start")
    print(f"{'':<34} {'p50':>6} {'p90':>6} {'max':>6}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
