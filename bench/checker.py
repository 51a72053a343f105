"""Benchmark: the linearizability checker on every Porcupine history, against Porcupine itself.

Measured the same way on both sides: the files are parsed first (not timed), then only the
check is timed (less the time our checker spends on minimal explanations, `explain_s`, which
Porcupine does not give), in wall-clock time (perf_counter here, time.Now in Go), best of 3 per file,
summed over the 109 files; Porcupine runs single-threaded (GOMAXPROCS=1), as this process does.
Porcupine's side is porcbench (`../shared/porcupine-go/`, Porcupine's own models and parsers),
run when it is built (`--porcbench PATH`, default `~/.cache/porcbench/porcbench`). The machine
is shared and noisy, so the two sides alternate, `--rounds` times (default 5), in one session,
and the ratio printed is the median of the per-round ratios (each round: our total / Porcupine's
total, measured back to back).

Prints the verdicts against the expected ones, the slowest files, and per core the median total
and ratio to Porcupine.

    python bench/checker.py [--timeout 60] [--no-prune] [--slowest 10] [--core both|native|python]
                            [--rounds 5] [--porcbench PATH] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from raft_jepsen.checkers.linearizable import LinearizabilityChecker, NativeSearch
from raft_jepsen.harness.history.importers import load

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "porcupine"  # the tests' copy
CORES = ("native", "python")
PORCBENCH = Path.home() / ".cache" / "porcbench" / "porcbench"
REPEATS = 3  # per file, best of: as porcbench does


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
    parser.add_argument("--rounds", type=int, default=5, help="alternations of our cores and porcbench")
    parser.add_argument("--porcbench", type=Path, default=PORCBENCH, help="porcbench binary (see the docstring)")
    args = parser.parse_args()
    if not (DATA / "README.md").is_file():
        sys.exit(f"Porcupine corpus not found at {DATA.resolve()}")
    if NativeSearch is None and args.core != "python":
        sys.exit("raft_jepsen.checkers._native is not built (pip install -e . with Rust on PATH); use --core python")
    cores = list(CORES) if args.core == "both" else [args.core]
    expected = expected_verdicts()

    def checker(name: str) -> LinearizabilityChecker:
        # the check alone, as Porcupine times it: minimal explanations are bench/explain.py's
        return LinearizabilityChecker("etcd" if name.startswith("jepsen/") else "string-kv", args.timeout,
                                      not args.no_prune, explain=False)

    def fmt(name: str) -> str:
        return "porcupine-etcd" if name.startswith("jepsen/") else "porcupine-kv"

    if args.profile:
        use_core(cores[0])
        history = load(DATA / args.profile, fmt(args.profile))
        profile = cProfile.Profile()
        profile.runcall(checker(args.profile).check, history)
        pstats.Stats(profile).sort_stats("tottime").print_stats(12)
        return 0

    t0 = time.perf_counter()
    histories = {name: load(DATA / name, fmt(name)) for name in sorted(expected)}
    parse_s = time.perf_counter() - t0
    wrong: set[str] = set()
    unknown: set[str] = set()
    porcbench = args.porcbench if args.porcbench.is_file() else None

    def ours(core: str) -> dict[str, float]:
        """Seconds per file, best of REPEATS, checking only; verdicts recorded."""
        use_core(core)
        best = {}
        for name, history in histories.items():
            times = []
            for _ in range(REPEATS):
                t1 = time.perf_counter()
                result = checker(name).check(history)
                # less the minimal explanations' share (`explain_s`, where the checker has one):
                # Porcupine gives no such thing
                times.append(time.perf_counter() - t1 - result.get("explain_s", 0.0))
            best[name] = min(times)
            if result["valid"] == "unknown":
                unknown.add(name)
            elif result["valid"] is not expected[name]:
                wrong.add(name)
        return best

    def porcupine() -> dict[str, float]:
        out = subprocess.run([str(porcbench), str(DATA)], capture_output=True, text=True, check=False)
        if out.returncode != 0:
            sys.exit(f"porcbench failed: {out.stderr.strip()[-300:]}")
        rows = [line.split("\t") for line in out.stdout.splitlines() if "\t" in line]
        return {name: float(ms) / 1000 for name, ms, _ in rows}

    rounds: list[dict[str, dict[str, float]]] = []
    for _ in range(max(1, args.rounds)):
        one = {core: ours(core) for core in cores}
        if porcbench:
            one["porcupine"] = porcupine()
        rounds.append(one)
    sides = list(rounds[0])
    median = {side: {name: statistics.median(r[side][name] for r in rounds) for name in histories} for side in sides}
    totals = {side: [sum(r[side].values()) for r in rounds] for side in sides}
    order = sorted(histories, key=lambda name: -median[cores[0]][name])
    shown = order[: args.slowest] if args.slowest else sorted(histories)
    print(f"{'file':24} {'expected':>8}" + "".join(f" {side + ' ms':>14}" for side in sides))
    for name in shown:
        print(f"{name:24} {str(expected[name]):>8}" + "".join(f" {median[side][name] * 1000:14.1f}" for side in sides))
    print(f"\n{len(histories)} files, parsing {parse_s:.2f} s (not timed on either side); checking only, wall clock, "
          f"best of {REPEATS} per file, {len(rounds)} rounds alternating the sides; medians:")
    for side in sides:
        line = f"{side:>10}: total {statistics.median(totals[side]):.3f} s"
        if porcbench and side != "porcupine":
            ratios = [t / p for t, p in zip(totals[side], totals["porcupine"])]
            kv = [sum(v for n, v in r[side].items() if n.startswith("kv/")) / sum(v for n, v in r["porcupine"].items() if n.startswith("kv/"))
                  for r in rounds]
            line += (f", {statistics.median(ratios):.2f}x Porcupine (rounds {min(ratios):.2f}-{max(ratios):.2f}; "
                     f"etcd files {statistics.median([sum(v for n, v in r[side].items() if n.startswith('jepsen/')) / sum(v for n, v in r['porcupine'].items() if n.startswith('jepsen/')) for r in rounds]):.2f}x, "
                     f"kv files {statistics.median(kv):.2f}x)")
        print(line)
    if not porcbench:
        print(f"porcbench not built at {args.porcbench}: no ratio (build it: ../shared/porcupine-go/build.sh)")
    print(f"wrong verdicts: {len(wrong)} {sorted(wrong) or ''}  unknown: {len(unknown)} {sorted(unknown) or ''}  "
          f"pruning: {'off' if args.no_prune else 'on'}")
    return 1 if wrong or unknown else 0


if __name__ == "__main__":
    sys.exit(main())
