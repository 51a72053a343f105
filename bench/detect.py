"""Detection: does raft-jepsen find each raftkv bug switch, and how soon (DESIGN.md, Performance).

Every bug × seed is one full `raft-jepsen run` (real cluster, real faults), run one after the
other. A bug counts as found when the verdict is invalid; its time to detection is the history
time at which the first operation a checker blames completed (`first_blamed_s`): for the
linearizability checker, the earliest of the stuck operations of the failing keys; for the
list-append checker, the read that shows the anomaly. That is the moment the anomaly became
observable; a time beyond the time limit means only the final reads, after the heal, showed it.

Each bug runs with the default nemesis and 5 nodes unless `RECOMMENDED` says otherwise (and
says why); `--nemesis` overrides that for every bug. The table goes to stdout and, with
`--out`, to a Markdown file:

    python3 bench/detect.py [--bugs stale-read,lazy-fsync] [--seeds 3] [--time-limit 60]
                            [--nodes 5] [--nemesis-interval 3] [--out bench/detect-results.md]
                            [--system examples/systems/raftkv.yaml]

`--system` runs another system's switches (by default raftkv's): raftkv described in YAML, say,
to compare the generic path with the built-in one. A system without switches (etcd) gets one row,
the system as it is: how often a run of a system we did not write comes out invalid, with
`--workload` and `--system-opt KEY=VALUE` (repeatable) choosing what is run:

    python3 bench/detect.py --system etcd --workload append --seeds 5 --out bench/detect-etcd.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import store, systems
from raft_jepsen.harness.errors import RaftJepsenError
from raft_jepsen.harness.history import Op, pair, read_jsonl
from raft_jepsen.harness.runner import run

# Options a bug needs beyond the defaults, with the reason (node_image/README.md, "Bug switches").
RECOMMENDED: dict[str, tuple[dict, str]] = {
    "duplicate-apply": ({"workload": "append"}, "a retried append shows twice in a list; a register write is idempotent"),
    "even-majority": ({"nodes": 4, "nemesis": "partition-halves,kill,pause"},
                      "only an even-sized cluster splits 2-2, and only halves split it so"),
    "vote-ignores-log": ({"nemesis": "partition", "nemesis-interval": 1.5},
                         "a node cut off from a working leader wins only if it reaches the others just as "
                         "that leader is cut off in turn: partitions that move, twice as often as by default"),
    "volatile-state": ({"nemesis": "power-cut"},
                       "a restart forgets only what no survivor holds: after a majority kill the survivors "
                       "re-replicate everything, after a power cut there is none"),
    "lazy-fsync": ({"nemesis": "power-cut"},
                   "an acknowledged write is lost only when a majority dies within one 100 ms flush "
                   "period: a power cut, not a kill of nodes one after another"),
}


@dataclass
class Outcome:
    seed: int
    valid: bool | str
    first_blamed_s: float | None
    wall_s: float
    note: str | None = None


def blamed(result: dict) -> list[int]:
    """Invoke indexes of the ops that show a failing checker's anomalies: the linearizability
    checker's stuck ops, or the last op of each failure that lists its ops (`indexes`, e.g. the
    read that misses an acknowledged append)."""
    out = []
    for failure in result.get("failures") or []:
        if failure.get("stuck"):
            out += failure["stuck"]
        elif failure.get("indexes"):
            out.append(failure["indexes"][-1])
    return out


def first_blamed_s(results: dict, history: list[Op]) -> float | None:
    """History time (s) at which the earliest op a failing checker blames completed (its invoke
    time when it never did): when the anomaly first became observable. None when no checker
    names an op."""
    ends = {call.invoke.index: (call.complete or call.invoke).time for call in pair(history)}
    times = [ends[i] for r in results.get("checkers", {}).values() if r.get("valid") is False
             for i in blamed(r) if i in ends]
    return min(times) / 1e9 if times else None


def run_one(bug: str, seed: int, args: argparse.Namespace) -> Outcome:
    config = {"system": args.system, "seed": seed, "time-limit": args.time_limit, "nodes": args.nodes,
              "store": args.store, "name": f"detect-{bug or args.system}"}
    if bug:
        config["bug"] = [bug]
    if args.workload:
        config["workload"] = args.workload
    if args.system_opt:
        config["system-opt"] = list(args.system_opt)
    config.update(RECOMMENDED.get(bug, ({}, ""))[0])  # before --nemesis: that one is for every bug
    if args.nemesis:
        config["nemesis"] = args.nemesis
    if args.nemesis_interval:
        config["nemesis-interval"] = args.nemesis_interval
    started = time.monotonic()
    try:
        result = run(specs.build(config, source="bench/detect.py"))
    except RaftJepsenError as e:
        return Outcome(seed, "unknown", None, time.monotonic() - started, str(e))
    wall = time.monotonic() - started
    history = list(read_jsonl(result.run_dir / store.HISTORY))
    return Outcome(seed, result.valid, first_blamed_s(result.results, history), wall, result.reason or result.anomaly)


def table(rows: dict[str, list[Outcome]], args: argparse.Namespace) -> str:
    nemesis = args.nemesis or ",".join(specs.Spec().nemesis)
    interval = args.nemesis_interval or specs.Spec().nemesis_interval
    lines = [
        f"Detection of `{args.system}`'s switches with `--time-limit {args.time_limit:g}`, {args.nodes} nodes, nemesis `{nemesis}` "
        f"every {interval:g} s "
        + (f"workload `{args.workload}` " if args.workload else "")
        + (f"`--system-opt {' '.join(args.system_opt)}` " if args.system_opt else "")
        + f"unless noted; seeds {args.first_seed}..{args.first_seed + args.seeds - 1}.",
        "",
        "| bug | seeds tried | found (invalid) | unknown | median s to first bad op | note |",
        "|---|---|---|---|---|---|",
    ]
    for bug, outcomes in rows.items():
        found = [o for o in outcomes if o.valid is False]
        unknown = [o for o in outcomes if o.valid == "unknown"]
        times = [o.first_blamed_s for o in found if o.first_blamed_s is not None]
        median = f"{statistics.median(times):.1f}" if times else "-"
        options, why = RECOMMENDED.get(bug, ({}, ""))
        note = f"{', '.join(f'--{k} {v}' for k, v in options.items())}: {why}" if options else ""
        lines.append(f"| {f'`{bug}`' if bug else '(no switch)'} | {len(outcomes)} | {len(found)} | {len(unknown)} | {median} | {note} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="raftkv", help="the system whose switches to run (a name or a system file)")
    parser.add_argument("--bugs", help="comma-separated switches (default: all of the system's)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N per bug")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--nemesis", help="nemesis for every bug (default: the spec's, or RECOMMENDED)")
    parser.add_argument("--nemesis-interval", type=float, help="seconds between fault operations, for every bug")
    parser.add_argument("--workload", help="the workload of every run (default: the spec's, or RECOMMENDED)")
    parser.add_argument("--system-opt", action="append", default=[], metavar="KEY=VALUE",
                        help="a system option for every run (repeatable)")
    parser.add_argument("--store", default="store")
    parser.add_argument("--out", help="also write the table (and every run's outcome) to this Markdown file")
    args = parser.parse_args()
    known = systems.get(args.system).bugs
    bugs = [b.strip() for b in (args.bugs or ",".join(known)).split(",") if b.strip()] or [""]  # "": no switch
    unknown = [b for b in bugs if b not in known]
    if unknown:
        sys.exit(f"unknown bug {unknown[0]!r} (expected one of {', '.join(known)})")

    rows: dict[str, list[Outcome]] = {}
    log: list[str] = []
    for bug in bugs:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            o = run_one(bug, seed, args)
            rows.setdefault(bug, []).append(o)
            verdict = {True: "valid", False: "INVALID", "unknown": "unknown"}[o.valid]
            at = f" first bad op at {o.first_blamed_s:.1f} s" if o.first_blamed_s is not None else ""
            line = f"{bug or '(no switch)':<18} seed {seed:<3} {verdict:<8}{at} ({o.wall_s:.0f} s wall){': ' + o.note if o.note else ''}"
            print(line, flush=True)
            log.append(line)
    out = table(rows, args)
    print()
    print(out)
    if args.out:
        runs = "\n".join(f"    {line}" for line in log)
        Path(args.out).write_text(f"# raft-jepsen detection\n\n{out}\nEvery run:\n\n{runs}\n", encoding="utf-8")


if __name__ == "__main__":
    main()
