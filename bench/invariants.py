"""Do the Raft invariants and the liveness deadlines find raftkv's protocol bugs on their own?

Each bug × seed is one `raft-jepsen run` (real cluster, under the setting detect.py's
`SWITCHES` chose for it); for each, which checkers found it: the Raft invariants (which
ones), liveness (which checks), and the client-history checkers. A bug counts as found by the
invariants even when no client read the damaged key. `--bugs none` runs the control.

    python3 bench/invariants.py [--bugs self-elect,...] [--seeds 3]
        [--time-limit 30] [--out bench/invariants-results.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from detect import SETTINGS, SWITCHES

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.runner import run

BUGS = ("none", "self-elect", "even-majority", "no-truncate", "accept-stale-term", "fixed-timeout")


def one(bug: str, seed: int, time_limit: float, store: str) -> dict:
    options = {"seed": seed, "time-limit": time_limit, "store": store}
    if bug != "none":
        options["bug"] = [bug]
        options.update(SETTINGS[SWITCHES[bug][0]] if bug in SWITCHES else {})
    started = time.monotonic()
    result = run(specs.build(options))
    checkers = result.results.get("checkers", {})
    inv, live = checkers.get("invariants", {}), checkers.get("liveness", {})
    history_found = sorted(n for n, r in checkers.items()
                           if r.get("valid") is False and n not in ("invariants", "liveness"))
    return {"bug": bug, "seed": seed, "valid": result.valid, "wall_s": round(time.monotonic() - started, 1),
            "invariants": inv.get("valid"), "violations": inv.get("violations", {}),
            "first_invariant": (inv.get("failures") or [{}])[0].get("message"),
            "liveness": live.get("valid"), "liveness_checks": sorted({f["check"] for f in live.get("failures", [])}),
            "first_liveness": (live.get("failures") or [{}])[0].get("message"),
            "history_checkers": history_found, "run_dir": str(result.run_dir), "options": options}


def summary(rows: list[dict]) -> str:
    """The Markdown table: per bug, how many seeds each kind of checker found it in."""
    lines = ["| `--bug` | runs | invariants | which invariants (runs) | liveness | which checks (runs) | client-history checkers (runs) |",
             "|---|---|---|---|---|---|---|"]
    for bug in dict.fromkeys(r["bug"] for r in rows):
        mine = [r for r in rows if r["bug"] == bug]
        inv = {}
        live = {}
        for r in mine:
            for name in r["violations"]:
                inv[name] = inv.get(name, 0) + 1
            for name in r["liveness_checks"]:
                live[name] = live.get(name, 0) + 1
        history = {}
        for r in mine:
            for name in r["history_checkers"]:
                history[name] = history.get(name, 0) + 1
        lines.append(f"| `{bug}` | {len(mine)} | {sum(r['invariants'] is False for r in mine)} | "
                     f"{', '.join(f'{k} ({v})' for k, v in inv.items()) or '–'} | "
                     f"{sum(r['liveness'] is False for r in mine)} | {', '.join(f'{k} ({v})' for k, v in live.items()) or '–'} | "
                     f"{', '.join(f'{k} ({v})' for k, v in history.items()) or '–'} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bugs", default=",".join(BUGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=30)
    parser.add_argument("--store", default="/tmp/rj-bench-invariants")
    parser.add_argument("--jsonl", default="bench/invariants-runs.jsonl")
    parser.add_argument("--summary", action="store_true", help="print the table of the runs in --jsonl, run nothing")
    args = parser.parse_args()
    if args.summary:
        print(summary([json.loads(line) for line in open(args.jsonl, encoding="utf-8")]))
        return 0
    for bug in args.bugs.split(","):
        for seed in range(1, args.seeds + 1):
            row = one(bug, seed, args.time_limit, args.store)
            print(json.dumps(row), flush=True)
            with open(args.jsonl, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
