"""Benchmark: minimal explanations on every invalid history of the Porcupine corpus.

For each history Porcupine's README marks not linearizable: the check's time without
explanations, the explanation's time (wall, the check with explanations minus the check alone),
the key's operations, the minimal set's size, whether it was proven minimal, and the sentence. Runs the default search core (native when built).

    python bench/explain.py [--timeout 60] [--sentences]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from raft_jepsen.checkers.linearizable import LinearizabilityChecker
from raft_jepsen.harness.history.importers import load

sys.path.insert(0, str(Path(__file__).parent))
from checker import DATA, expected_verdicts  # this folder's corpus loader


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--sentences", action="store_true", help="print each history's sentence")
    args = parser.parse_args()
    invalid = sorted(name for name, ok in expected_verdicts().items() if not ok)
    print(f"{'file':24} {'check ms':>9} {'explain ms':>11} {'key ops':>8} {'minimal':>8} {'proven':>7}")
    rows = []
    for name in invalid:
        model = "etcd" if name.startswith("jepsen/") else "string-kv"
        history = load(DATA / name, "porcupine-etcd" if name.startswith("jepsen/") else "porcupine-kv")
        t0 = time.perf_counter()
        plain = LinearizabilityChecker(model, args.timeout, explain=False).check(history)
        t1 = time.perf_counter()
        result = LinearizabilityChecker(model, args.timeout).check(history)
        t2 = time.perf_counter()
        if plain["valid"] is not False or result["valid"] is not False:
            print(f"{name:24} not found invalid: {plain['valid']} / {result['valid']}")
            continue
        f = result["failures"][0]
        check_s, explain_s = t1 - t0, max((t2 - t1) - (t1 - t0), 0.0)
        rows.append((check_s, explain_s, len(f["ops"]), len(f["minimal"]), f["minimal_proven"]))
        print(f"{name:24} {check_s * 1000:9.1f} {explain_s * 1000:11.1f} {len(f['ops']):8} {len(f['minimal']):8} "
              f"{f['minimal_proven']!s:>7}")
        if args.sentences:
            print(f"    {f['explanation']}")
    if rows:
        sizes = [r[3] for r in rows]
        ex = sorted(r[1] for r in rows)
        print(f"\n{len(rows)} invalid histories: explanation median {statistics.median(ex) * 1000:.1f} ms, "
              f"max {ex[-1] * 1000:.1f} ms, total {sum(ex):.2f} s (checks alone {sum(r[0] for r in rows):.2f} s); "
              f"minimal set median {statistics.median(sizes):g} ops (min {min(sizes)}, max {max(sizes)}) of "
              f"median {statistics.median(r[2] for r in rows):g} on the key; proven minimal "
              f"{sum(1 for r in rows if r[4])} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
