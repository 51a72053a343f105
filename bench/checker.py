"""Benchmark: the linearizability checker on every Porcupine history, single process.

Prints per-file CPU milliseconds (process time: steadier than wall time on a shared machine;
checking only, parsing is shown apart), the verdict against the
expected one, and totals next to Porcupine's own figures (Go, this machine, single thread).

    python bench/checker.py [--timeout 60] [--no-prune] [--slowest 10] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import sys
import time
from pathlib import Path

from checkers.linearizable import LinearizabilityChecker
from harness.importers import load

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "porcupine"
PORCUPINE_GO_MS = {"total": 560, "kv/c50-ok.txt": 160, "jepsen/etcd_002.log": 150, "jepsen/etcd_007.log": 100}


def expected_verdicts() -> dict[str, bool]:
    readme = (DATA / "README.md").read_text()
    verdicts = {name: v == "true" for name, v in re.findall(r"^\| `(\S+)` \|.*\| (true|false) \|$", readme, re.M)}
    verdicts["jepsen/etcd_095.log"] = True  # empty
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-prune", action="store_true")
    parser.add_argument("--slowest", type=int, default=10, help="list the N slowest files (0: list all)")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the checking of this one file instead")
    args = parser.parse_args()
    if not (DATA / "README.md").is_file():
        sys.exit(f"Porcupine corpus not found at {DATA.resolve()}")
    expected = expected_verdicts()

    def checker(name: str) -> LinearizabilityChecker:
        return LinearizabilityChecker("etcd" if name.startswith("jepsen/") else "string-kv", args.timeout, not args.no_prune)

    def fmt(name: str) -> str:
        return "porcupine-etcd" if name.startswith("jepsen/") else "porcupine-kv"

    if args.profile:
        history = load(DATA / args.profile, fmt(args.profile))
        profile = cProfile.Profile()
        profile.runcall(checker(args.profile).check, history)
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
        return 0

    rows, parse_s, wrong, unknown = [], 0.0, [], []
    for name in sorted(expected):
        t0 = time.process_time()
        history = load(DATA / name, fmt(name))
        t1 = time.process_time()
        result = checker(name).check(history)
        t2 = time.process_time()
        parse_s += t1 - t0
        rows.append((t2 - t1, name, result["valid"]))
        if result["valid"] == "unknown":
            unknown.append(name)
        elif result["valid"] is not expected[name]:
            wrong.append(name)
    total = sum(r[0] for r in rows)
    shown = sorted(rows, reverse=True)[: args.slowest] if args.slowest else sorted(rows, key=lambda r: r[1])
    print(f"{'file':24} {'verdict':>8} {'ms':>9} {'Porcupine ms':>13}")
    for seconds, name, valid in shown:
        go = PORCUPINE_GO_MS.get(name)
        print(f"{name:24} {str(valid):>8} {seconds * 1000:9.1f} {'' if go is None else go:>13}")
    etcd = sum(s for s, n, _ in rows if n.startswith("jepsen/"))
    print(f"\n{len(rows)} files: checking {total:.2f} s (etcd {etcd:.2f} s, kv {total - etcd:.2f} s), "
          f"parsing {parse_s:.2f} s; Porcupine (Go) {PORCUPINE_GO_MS['total'] / 1000:.2f} s, "
          f"ratio {total * 1000 / PORCUPINE_GO_MS['total']:.1f}x")
    print(f"wrong verdicts: {len(wrong)} {wrong or ''}  unknown: {len(unknown)} {unknown or ''}  "
          f"pruning: {'off' if args.no_prune else 'on'}")
    return 1 if wrong or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
