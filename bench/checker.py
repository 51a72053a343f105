"""Benchmark: the linearizability checker on every Porcupine history, single process.

Prints per-file CPU milliseconds (process time: steadier than wall time on a shared machine;
checking only, parsing is shown apart), the verdict against the
expected one, and totals next to Porcupine's own figures (Go, this machine, single thread), for
the native search core (checkers._native, Rust) and the Python one, side by side.

    python bench/checker.py [--timeout 60] [--no-prune] [--slowest 10] [--core both|native|python]
                            [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import sys
import time
from pathlib import Path

from raft_jepsen.checkers.linearizable import LinearizabilityChecker, NativeSearch
from raft_jepsen.harness.history.importers import load

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "porcupine"  # the tests' copy
CORES = ("native", "python")
PORCUPINE_GO_MS = {"total": 560, "kv/c50-ok.txt": 160, "jepsen/etcd_002.log": 150, "jepsen/etcd_007.log": 100}


def expected_verdicts() -> dict[str, bool]:
    readme = (DATA / "README.md").read_text()
    verdicts = {name: v == "true" for name, v in re.findall(r"^\| `(\S+)` \|.*\| (true|false) \|$", readme, re.M)}
    verdicts["jepsen/etcd_095.log"] = True  # empty
    return verdicts


def use_core(core: str) -> None:
    """Makes the checker pick this search core (see `search_core`)."""
    if core == "python":
        os.environ["RAFT_JEPSEN_PURE_PYTHON"] = "1"
    else:
        os.environ.pop("RAFT_JEPSEN_PURE_PYTHON", None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--no-prune", action="store_true")
    parser.add_argument("--slowest", type=int, default=10, help="list the N slowest files (0: list all)")
    parser.add_argument("--core", choices=["both", *CORES], default="both" if NativeSearch else "python",
                        help="search core(s) to time: both (the default when the native one is built) "
                             "gives a column each")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the checking of this one file instead")
    args = parser.parse_args()
    if not (DATA / "README.md").is_file():
        sys.exit(f"Porcupine corpus not found at {DATA.resolve()}")
    if NativeSearch is None and args.core != "python":
        sys.exit("raft_jepsen.checkers._native is not built (pip install -e . with Rust on PATH); use --core python")
    cores = list(CORES) if args.core == "both" else [args.core]
    expected = expected_verdicts()

    def checker(name: str) -> LinearizabilityChecker:
        return LinearizabilityChecker("etcd" if name.startswith("jepsen/") else "string-kv", args.timeout, not args.no_prune)

    def fmt(name: str) -> str:
        return "porcupine-etcd" if name.startswith("jepsen/") else "porcupine-kv"

    if args.profile:
        use_core(cores[0])
        history = load(DATA / args.profile, fmt(args.profile))
        profile = cProfile.Profile()
        profile.runcall(checker(args.profile).check, history)
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
        return 0

    rows, parse_s, wrong, unknown = [], 0.0, set(), set()
    for name in sorted(expected):
        t0 = time.process_time()
        history = load(DATA / name, fmt(name))
        parse_s += time.process_time() - t0
        seconds = {}
        for core in cores:
            use_core(core)
            t1 = time.process_time()
            result = checker(name).check(history)
            seconds[core] = time.process_time() - t1
            if result["valid"] == "unknown":
                unknown.add(name)
            elif result["valid"] is not expected[name]:
                wrong.add(name)
        rows.append((seconds[cores[0]], name, result["valid"], seconds))
    shown = sorted(rows, reverse=True)[: args.slowest] if args.slowest else sorted(rows, key=lambda r: r[1])
    print(f"{'file':24} {'verdict':>8}" + "".join(f" {core + ' ms':>10}" for core in cores) + f" {'Porcupine ms':>13}")
    for _, name, valid, seconds in shown:
        go = PORCUPINE_GO_MS.get(name)
        print(f"{name:24} {str(valid):>8}" + "".join(f" {seconds[core] * 1000:10.1f}" for core in cores)
              + f" {'' if go is None else go:>13}")
    print(f"\n{len(rows)} files, parsing {parse_s:.2f} s; Porcupine (Go) {PORCUPINE_GO_MS['total'] / 1000:.2f} s")
    for core in cores:
        total = sum(r[3][core] for r in rows)
        etcd = sum(r[3][core] for r in rows if r[1].startswith("jepsen/"))
        print(f"{core:>6} core: checking {total:.2f} s (etcd {etcd:.2f} s, kv {total - etcd:.2f} s), "
              f"{total * 1000 / PORCUPINE_GO_MS['total']:.1f}x Porcupine")
    print(f"wrong verdicts: {len(wrong)} {sorted(wrong) or ''}  unknown: {len(unknown)} {sorted(unknown) or ''}  "
          f"pruning: {'off' if args.no_prune else 'on'}")
    return 1 if wrong or unknown else 0

if __name__ == "__main__":
    sys.exit(main())
