"""Do the packet, clock and lose-unsynced faults find the bugs they are for, and only those?

Each setting is a bug (or none: the control) under one nemesis; every setting x seed is one full
`raft-jepsen run`, one after the other. Printed per run, then a table; with `--out`, every run
is also appended to a JSON-lines file (setting, options, seed, verdict, first bad op, run folder,
and how often raftkv logged that it truncated committed entries, the footprint of
truncate-on-match even when no client sees it):

    python3 bench/fault_kinds.py --group lease-read --seeds 5
    python3 bench/fault_kinds.py --group lazyfs --seeds 4
    python3 bench/fault_kinds.py --group truncate --seeds 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import store
from raft_jepsen.harness.errors import RaftJepsenError
from raft_jepsen.harness.history import pair, read_jsonl
from raft_jepsen.harness.runner import run

NO_CACHE = {"system-opt": ["simulate-page-cache=false"]}
# A fault every 6 s, not 3: a clock offset then overlaps a partition long enough (half an
# interval, less the election) for reads to reach the cut-off leader after its successor wrote.
SLOW = {"nemesis-interval": 6}
# ... and more clients: only the few homed at the cut-off leader read from it, and each of them
# stalls 2 s on its first write there, so reads it can answer stale are scarce.
BUSY = {**SLOW, "rate": 400, "concurrency": 40}
# group -> [(label, bug or None, options)]
GROUPS: dict[str, list[tuple[str, str | None, dict]]] = {
    # The lease is measured on the leader's wall clock: only a clock that jumps while the leader
    # is cut off lets it answer after a new leader has written; the other faults must not.
    "lease-read": [
        ("lease-read, clock-bump+partition-leader", "lease-read", {"nemesis": "clock-bump,partition-leader", **SLOW}),
        ("lease-read, partition-leader", "lease-read", {"nemesis": "partition-leader", **SLOW}),
        ("lease-read, partition+kill+pause", "lease-read", {"nemesis": "partition,kill,pause", **SLOW}),
        ("control, clock-bump+partition-leader", None, {"nemesis": "clock-bump,partition-leader", **SLOW}),
        ("busy lease-read, clock-bump+partition-leader", "lease-read", {"nemesis": "clock-bump,partition-leader", **BUSY}),
        ("busy lease-read, partition-leader", "lease-read", {"nemesis": "partition-leader", **BUSY}),
        ("busy control, clock-bump+partition-leader", None, {"nemesis": "clock-bump,partition-leader", **BUSY}),
    ],
    # raftkv without its simulated page cache: only the FUSE filesystem loses unsynced writes.
    "lazyfs": [
        ("lazy-fsync, lose-unsynced", "lazy-fsync", {"nemesis": "lose-unsynced", **NO_CACHE}),
        ("lazy-fsync, power-cut without lazyfs", "lazy-fsync", {"nemesis": "power-cut", **NO_CACHE}),
        ("control, lose-unsynced", None, {"nemesis": "lose-unsynced", **NO_CACHE}),
    ],
    # Late AppendEntries: delayed and reordered packets between nodes, with leaders cut off and
    # killed so that a follower's lost tail can matter, at a rate that keeps many entries in flight.
    "truncate": [
        ("truncate-on-match, packets+partition+kill", "truncate-on-match",
         {"nemesis": "packet-delay,packet-reorder,partition,kill", "rate": 400, "concurrency": 40}),
        ("control, packets+partition+kill", None,
         {"nemesis": "packet-delay,packet-reorder,partition,kill", "rate": 400, "concurrency": 40}),
    ],
}


def first_bad_s(results: dict, history) -> float | None:
    ends = {c.invoke.index: (c.complete or c.invoke).time for c in pair(history)}
    times = []
    for r in results.get("checkers", {}).values():
        if r.get("valid") is not False:
            continue
        for f in r.get("failures") or []:
            times += [ends[i] for i in (f.get("stuck") or f.get("indexes", [])[-1:]) if i in ends]
    return round(min(times) / 1e9, 1) if times else None


def truncations(run_dir: Path) -> int:
    count = 0
    for log in (run_dir / store.NODES).glob("*/node.log"):
        count += sum(1 for line in log.open(errors="replace") if '"committed-entries-truncated"' in line)
    return count


def run_one(label: str, bug: str | None, options: dict, seed: int, args) -> dict:
    config = {"seed": seed, "time-limit": args.time_limit, "store": args.store, "name": f"faults-{args.group}",
              **options}
    if bug:
        config["bug"] = [bug]
    started = time.monotonic()
    line = {"setting": label, "bug": bug, "options": options, "seed": seed}
    try:
        result = run(specs.build(config, source="bench/fault_kinds.py"))
    except RaftJepsenError as e:
        return {**line, "valid": "unknown", "note": str(e), "wall_s": round(time.monotonic() - started)}
    history = list(read_jsonl(result.run_dir / store.HISTORY))
    return {**line, "valid": result.valid, "first_bad_s": first_bad_s(result.results, history),
            "note": result.reason or result.anomaly, "run_dir": str(result.run_dir),
            "committed_truncations": truncations(result.run_dir), "wall_s": round(time.monotonic() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", choices=list(GROUPS), required=True)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--store", default="store")
    parser.add_argument("--out", help="append every run as a JSON line to this file")
    parser.add_argument("--only", help="run only the group's settings whose label contains this")
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {}
    for label, bug, options in GROUPS[args.group]:
        if args.only and args.only not in label:
            continue
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            o = run_one(label, bug, options, seed, args)
            rows.setdefault(label, []).append(o)
            verdict = {True: "valid", False: "INVALID", "unknown": "unknown"}[o["valid"]]
            at = f" first bad op at {o['first_bad_s']} s" if o.get("first_bad_s") is not None else ""
            print(f"{label:<40} seed {seed:<3} {verdict:<8}{at} truncations {o.get('committed_truncations', '-')}"
                  f" ({o['wall_s']} s wall){': ' + o['note'] if o.get('note') else ''}", flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(o) + "\n")
    print(f"\n`--time-limit {args.time_limit:g}`, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}\n")
    print("| setting | runs | invalid | unknown | runs where raftkv truncated committed entries |")
    print("|---|---|---|---|---|")
    for label, outcomes in rows.items():
        bad = sum(o["valid"] is False for o in outcomes)
        unknown = sum(o["valid"] == "unknown" for o in outcomes)
        truncated = sum(bool(o.get("committed_truncations")) for o in outcomes)
        print(f"| {label} | {len(outcomes)} | {bad} | {unknown} | {truncated} |")


if __name__ == "__main__":
    main()
