"""Detection with controls: does raft-jepsen find each raftkv bug switch, how soon, and does
correct raftkv stay valid under the very same faults (DESIGN.md, Performance)?

Every switch runs under one named nemesis setting (`SETTINGS`, chosen in `SWITCHES` with the
reason); every setting also runs without any switch, the control, over as many seeds. Each run
is one full `raft-jepsen run` (real cluster, real faults), one after the other, and becomes one
line of data in `bench/detect-runs.jsonl`: switch (null for a control), setting, options, seed,
verdict, the history time of the first operation a checker blames, the checkers that failed,
the run folder. A bug counts as found when the verdict is invalid; a control that comes out
invalid is a false alarm. The first bad op is the moment the anomaly became observable (for the
linearizability checker the earliest stuck operation of a failing key; for the list-append and
set checkers the read that shows it); beyond the time limit only the final reads showed it.

    python3 bench/detect.py run [--bugs a,b] [--controls] [--seeds 3]
                                   [--time-limit 30] [--data bench/detect-runs.jsonl]
    python3 bench/detect.py render [--data bench/detect-runs.jsonl] [--readme README.md]
                                   [--out bench/detect-results.md]

`render` rebuilds the README's detection table from the data alone (the block between the
`<!-- detect:begin -->` and `<!-- detect:end -->` markers is replaced; nothing in it is edited
by hand), and writes it with every run's line to `bench/detect-results.md`. `--system` runs the
same switches through another system that has them (raftkv described in YAML, say); the table
shows raftkv's runs only. `--system etcd` runs etcd's settings instead (`--settings`, no switches:
bench/detect_etcd.py), whose table goes into the README's etcd section.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import detect_etcd

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import store, systems
from raft_jepsen.harness.errors import RaftJepsenError
from raft_jepsen.harness.history import Op, pair, read_jsonl
from raft_jepsen.harness.runner import run

DATA = Path(__file__).with_name("detect-runs.jsonl")
RESULTS = Path(__file__).with_name("detect-results.md")
README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- detect:begin -->", "<!-- detect:end -->"

# setting -> options beyond the defaults (partition,kill,pause every 3 s, 5 nodes, register,
# availability window 10 s, which every setting keeps unless it says otherwise: its control is the
# availability control).
SETTINGS: dict[str, dict] = {
    "default": {},
    "halves-4": {"nodes": 4, "nemesis": "partition-halves,kill,pause"},
    "append": {"workload": "append"},
    "power-cut": {"nemesis": "power-cut"},
    "partition-1.5": {"nemesis": "partition", "nemesis-interval": 1.5},
    "kv-short": {"workload": "kv", "nemesis": "partition,kill,pause", "nemesis-interval": 1},
    "append-short": {"workload": "append", "nemesis": "partition,kill,pause", "nemesis-interval": 1},
    "packet": {"nemesis": "packet-delay,packet-reorder,partition,kill", "nemesis-interval": 2},
    "leader-minority": {"nemesis": "partition-leader-minority"},
    "clock": {"nemesis": "clock-bump,partition-leader", "nemesis-interval": 6},
    "clock-4": {"nemesis": "clock-bump,partition-leader", "nemesis-interval": 4},
    "clock-2": {"nemesis": "clock-bump,partition-leader", "nemesis-interval": 2},
    "membership": {"nemesis": "partition-halves,membership", "nemesis-interval": 1},
    "membership-leader": {"nemesis": "partition-leader-minority,membership", "nemesis-interval": 1},
    "membership-leader-0.5": {"nemesis": "partition-leader-minority,membership", "nemesis-interval": 0.5},
    # Every node stopped for 10 s, then resumed at once while every link takes ~100 ms each way
    # (the latency's own cycle is half an interval behind the pauses: on from 5 s into a pause
    # to 5 s after it). The outage a resume can show is thus about 5 s, so the liveness deadline
    # is 4 s; correct raftkv elects within about 2 s of the resume under the same latency. The
    # pause itself is a 10 s outage of every client by design: the availability window is
    # raised above it, and the liveness checker (which excuses a pause, not a slow network) is
    # the one that judges.
    "latency-pause": {"workload": "kv", "nemesis": "packet-latency,pause-all", "nemesis-interval": 10,
                      "liveness-deadline": 4, "availability-window": 20, "time-limit": 30},
}

# switch -> (setting, why that setting)
SWITCHES: dict[str, tuple[str, str]] = {
    "ack-before-commit": ("default", ""),
    "optimistic-match": ("default", ""),
    "stale-read": ("default", ""),
    "self-elect": ("default", ""),
    "even-majority": ("halves-4", "only an even-sized cluster splits 2-2, and only halves split it so"),
    "duplicate-apply": ("append", "a retried append shows twice in a list; a register write is idempotent"),
    "volatile-state": ("power-cut", "a restart forgets only what no survivor holds: after a power cut there is none"),
    "lazy-fsync": ("power-cut", "an acknowledged write is lost only when a majority dies within one 100 ms "
                                "flush period"),
    "vote-ignores-log": ("partition-1.5", "a cut-off node wins when it reaches the others just as their leader is "
                                          "cut off in turn: partitions that move, twice as often"),
    "lease-read": ("clock-2", "the lease is measured on the leader's wall clock: a jump back (a negative bump, or "
                              "the heal of a positive one) stretches it by the jump, and the leader cut off after "
                              "that serves reads from it while a new leader takes writes; the clock fault must come "
                              "first and hit the leader, so faults every 2 s give it more chances"),
    "config-before-commit": ("membership-leader", "two members removed at once just after the leader and one "
                                                  "follower were cut off from the rest (before the leader steps "
                                                  "down, an election timeout later): the stacked configuration "
                                                  "makes the pair a majority while the rest still form one of "
                                                  "the old; partitions that always put the leader on the minority "
                                                  "side, every second, 60 s"),
    "accept-stale-term": ("default", ""),
    "commit-prior-term": ("append-short", "figure 8 needs three leader changes in a row (faults every second); "
                                          "an append is never hidden by a later one, so a lost or phantom "
                                          "entry stays in every later read of the list"),
    "no-truncate": ("append-short", "a follower that kept a cut-off leader's entries applies them in place of "
                                    "the committed ones; in a list every element stays, so the divergence shows "
                                    "in any later read once that follower leads (faults every second)"),
    "fixed-timeout": ("latency-pause", "split votes repeat while the nodes' timers fire closer together than "
                                       "a message takes to arrive: a pause of every node, resumed at once, "
                                       "starts their timers together, and a steady 100 ms on every link keeps "
                                       "them within it"),
    "truncate-on-match": ("packet", "an AppendEntries must arrive after a newer one: delayed and reordered packets"),
}

# Rows run on purpose under a setting other than the switch's own (`run --setting`), and why.
ALSO: dict[tuple[str, str], str] = {
    ("lease-read", "default"): "the default faults, no clock fault: a lease the clock never stretches is safe, so "
                               "these must not find it",
    ("stale-read", "leader-minority"): "a Raft-aware target: the leader cut off on the minority side, every time "
                                       "(the default partitions do it now and then)",
    ("accept-stale-term", "leader-minority"): "a Raft-aware target: a leader cut off on the minority side keeps "
                                              "sending AppendEntries of its old term to whoever it still reaches",
}

# Why a switch is not (or rarely) found with a black-box test, with the evidence; shown in the
# table's last column when the data has no find for it.
WHY_NOT: dict[str, str] = {
    "truncate-on-match": "it needs an AppendEntries delivered after a newer one from the same leader; raftkv "
                         "sends them over one TCP connection per peer, so delayed and reordered packets still "
                         "arrive in order, and a follower that truncates on a leader's rewound resend gets the "
                         "same entries back in that message (the node logs count the committed entries it "
                         "truncated, `committed-entries-truncated`): no client sees it; an invariant on the "
                         "node logs (no committed entry ever removed) does",
    "fixed-timeout": "on a Docker bridge a message takes ~1 ms, and scheduling noise drifts equal timers "
                     "apart by more than that within a round or two, so split votes cost little (the node "
                     "logs count the elections); and the liveness checker then excused every fault window, "
                     "and the availability checker (10 s without an ok) never fired",
    "no-truncate": "the follower's kept entries are those of a leader cut off before they committed: writes "
                   "whose clients got no answer (info), which may take effect at any time; the state it "
                   "applies diverges (node logs: `conflicting-entries-kept`), but reads go through the leader "
                   "and a later write to the key hides it, so clients see it only when that follower leads "
                   "and reads alternate with another leader's on a key not written since; comparing the "
                   "nodes' state digests after the heal (the invariant checker) sees it directly",
    "commit-prior-term": "with no no-op a new leader commits an older term's entry by counting (node logs: "
                         "`prior-term-committed-by-count`), but a later leader overwrites it only if it holds a "
                         "newer-term entry at that index and wins without any node that has this term's "
                         "entries (figure 8's three leader changes); and what is lost is a write whose client "
                         "got no answer, so clients see it only through a node that applied it and leads again",
    "lazy-fsync": "in a 25 s run the power cut comes about three times, and an acknowledged write is lost only "
                  "when one falls within a 100 ms flush period of it; 60 s runs found it 5 of 5 times "
                  "(2026-12-02, in the git history of bench/detect-results.md)",
    "lease-read": "its stale read needs the leader's clock to jump back (a negative bump, or the heal of a positive "
                  "one) before the leader is cut off, and clients homed on it reading a key the new leader wrote "
                  "within that jump; the clock cycle used to run half an interval behind the partitions, so the "
                  "clock always moved after the cut (bench/fault_kinds.py: 0 of 13 then); test_raftkv_bugs.py "
                  "shows it deterministically",
    "accept-stale-term": "a node that accepts a deposed leader's AppendEntries replies with its newer term and "
                         "the deposed leader steps down; the entries it overwrote are sent again by the current "
                         "leader, so what clients can see is an outage (availability) more than a wrong value",
}


# switch -> the footprint events the table shows beside it (summed over its runs)
FOOTPRINT_OF = {
    "no-truncate": ("conflicting-entries-kept",),
    "commit-prior-term": ("prior-term-committed-by-count", "committed-entries-truncated"),
    "accept-stale-term": ("stale-term-append-accepted",),
    "truncate-on-match": ("committed-entries-truncated",),
    "fixed-timeout": ("election",),
    "config-before-commit": ("member-change",),
}


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
    times = [ends[i] for r in results.get("checkers", {}).values() if isinstance(r, dict) and r.get("valid") is False
             for i in blamed(r) if i in ends]
    return min(times) / 1e9 if times else None


# Node-log events that show whether a switch's window opened in a run, whatever the clients saw
# (node_image/README.md): counted per run into the data.
FOOTPRINTS = ("conflicting-entries-kept", "prior-term-committed-by-count", "stale-term-append-accepted",
              "committed-entries-truncated", "election", "member-change")


def footprints(run_dir: Path) -> dict[str, int]:
    counts = dict.fromkeys(FOOTPRINTS, 0)
    for log in sorted((run_dir / "nodes").glob("*/node.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                event = json.loads(line).get("event")
            except (ValueError, AttributeError):
                continue
            if event in counts:
                counts[event] += 1
    return counts


def options_for(setting: str, bug: str | None, args: argparse.Namespace) -> dict:
    if args.system == "etcd":
        return {"system": "etcd", "store": args.store, "name": f"detect-etcd-{setting}",
                **detect_etcd.options_for(setting)}
    config = {"system": args.system, "time-limit": args.time_limit, "store": args.store,
              "name": f"detect-{bug or 'control'}-{setting}"}
    config.update(SETTINGS[setting])
    if bug:
        config["bug"] = [bug]
    return config


def run_one(setting: str, bug: str | None, seed: int, args: argparse.Namespace) -> dict:
    config = options_for(setting, bug, args)
    record = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "system": args.system, "bug": bug, "setting": setting,
              "options": {k: v for k, v in config.items() if k not in ("store", "name", "system", "bug")},
              "seed": seed}
    started = time.monotonic()
    try:
        result = run(specs.build({**config, "seed": seed}, source="bench/detect.py"))
    except RaftJepsenError as e:
        return {**record, "verdict": "unknown", "first_bad_s": None, "failed": [], "note": str(e),
                "run_dir": None, "wall_s": round(time.monotonic() - started, 1)}
    history = list(read_jsonl(result.run_dir / store.HISTORY))
    verdict = {True: "valid", False: "invalid"}.get(result.valid, "unknown")
    first = first_blamed_s(result.results, history)
    failed = sorted(name for name, r in result.results.get("checkers", {}).items()
                    if isinstance(r, dict) and r.get("valid") is False)
    return {**record, "verdict": verdict, "first_bad_s": None if first is None else round(first, 2),
            "failed": failed, "note": result.reason or result.anomaly, "run_dir": str(result.run_dir),
            "safety": result.results.get("safety"), "liveness": result.results.get("liveness"),
            "footprints": footprints(result.run_dir),
            "wall_s": round(time.monotonic() - started, 1)}


def load(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "–"


def _options_text(options: dict, setting: str) -> str:
    """The options of a row; the time limit only when the setting fixes its own (the header
    names the others')."""
    shown = {k: v for k, v in options.items() if k != "time-limit" or k in SETTINGS.get(setting, {})}
    return " ".join(f"`--{k} {v}`" for k, v in shown.items()) or "defaults"


def render(records: list[dict]) -> str:
    """The detection table, from the data alone: one row per switch and setting, the control of
    that setting beside it."""
    records = [r for r in records if r.get("system", "raftkv") == "raftkv"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["bug"], r["setting"], r["options"].get("time-limit"))].append(r)
    dates = sorted(r["date"][:10] for r in records)
    limits = sorted({r["options"].get("time-limit") for r in records})
    lines = [
        f"Measured {dates[0]}..{dates[-1]} by `bench/detect.py` ({len(records)} runs, one after the other under "
        f"the shared bench lock on the 2-core machine; time limit {', '.join(f'{t:g} s' for t in limits)}; "
        "5 nodes, register workload, availability window 10 s unless the setting says otherwise). "
        "Rendered from `bench/detect-runs.jsonl` by `python3 bench/detect.py render`: do not edit by hand.",
        "",
        "| `--bug` | setting | runs | found | median s to first bad op | control runs (no bug) | false alarms "
        "| why this setting; why not found |",
        "|---|---|---|---|---|---|---|---|",
    ]
    order = list(SWITCHES)
    bug_keys = sorted((k for k in groups if k[0] is not None),
                      key=lambda k: (order.index(k[0]) if k[0] in order else len(order), k[1], k[2] or 0))
    for key in bug_keys:
        bug, setting, limit = key
        runs = groups[key]
        found = [r for r in runs if r["verdict"] == "invalid"]
        unknown = sum(r["verdict"] == "unknown" for r in runs)
        controls = groups.get((None, setting, limit), [])
        alarms = [r for r in controls if r["verdict"] == "invalid"]
        current, why = SWITCHES.get(bug, ("", ""))
        if (bug, setting) in ALSO:
            why = ALSO[(bug, setting)]
        elif setting != current:
            why = f"an earlier choice of setting (now {current})"
        checkers = sorted({c for r in found for c in r.get("failed", [])})
        notes = [why] if why else []
        if checkers:
            notes.append("found by " + ", ".join(checkers))
        marks = {k: sum(r.get("footprints", {}).get(k, 0) for r in runs) for k in FOOTPRINT_OF.get(bug, ())}
        if marks:
            base = {k: sum(r.get("footprints", {}).get(k, 0) for r in controls) for k in marks}
            notes.append("node logs: " + ", ".join(f"{v} `{k}` (control: {base[k]})" for k, v in marks.items()))
        if not found and bug in WHY_NOT:
            notes.append("not found: " + WHY_NOT[bug])
        if unknown:
            notes.append(f"{unknown} unknown")
        control = f"{len(controls)}" if controls else "none yet"
        blamed_checkers = sorted({c for r in alarms for c in r.get("failed", [])})
        alarm = f"{len(alarms)}" + (f" ({', '.join(blamed_checkers)})" if blamed_checkers else "")
        lines.append(f"| `{bug}` | {setting}: {_options_text(runs[0]['options'], setting)} | {len(runs)} | {len(found)} | "
                     f"{_median([r['first_bad_s'] for r in found if r['first_bad_s'] is not None])} | {control} | "
                     f"{alarm if controls else '–'} | {'; '.join(notes)} |")
    return "\n".join(lines) + "\n"


def run_list(records: list[dict]) -> str:
    """Every run, one line each, in the order they ran: the raw material behind the table."""
    lines = []
    for r in records:
        at = f" first bad op at {r['first_bad_s']:.1f} s" if r.get("first_bad_s") is not None else ""
        why = f" ({', '.join(r['failed'])})" if r.get("failed") else ""
        note = f": {r['note']}" if r.get("note") and r["verdict"] == "unknown" else ""
        lines.append(f"    {r['date']} {r['bug'] or ('etcd' if r.get('system') == 'etcd' else 'control'):<20} {r['setting']:<14} seed {r['seed']:<3} "
                     f"{r['verdict']:<8}{at}{why}{note} [{r.get('run_dir')}]")
    return "\n".join(lines) + "\n"


def write_readme(table: str, readme: Path, begin: str = BEGIN, end: str = END) -> None:
    text = readme.read_text(encoding="utf-8")
    head, sep, rest = text.partition(begin)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        sys.exit(f"{readme} has no {begin} ... {end} block to replace")
    readme.write_text(f"{head}{begin}\n{table}{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run switches (and controls), appending each run to the data")
    r.add_argument("--system", default="raftkv", help="the system whose switches to run (a name or a system file)")
    r.add_argument("--bugs", help="comma-separated switches (default: every one in SWITCHES)")
    r.add_argument("--setting", choices=sorted(SETTINGS),
                   help="run the switches under this setting instead of their own (see ALSO)")
    r.add_argument("--settings", help="with --system etcd: comma-separated settings (default: every one in "
                                      "bench/detect_etcd.py)")
    r.add_argument("--controls", action="store_true", help="also run each chosen switch's setting without a bug")
    r.add_argument("--only-controls", action="store_true", help="run only the controls of the chosen switches")
    r.add_argument("--seeds", type=int, default=3, help="seeds first..first+N-1 per row")
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--time-limit", type=float, default=30.0)
    r.add_argument("--store", default="store")
    r.add_argument("--data", type=Path, default=DATA)
    w = sub.add_parser("render", help="rebuild the README's detection table from the data")
    w.add_argument("--data", type=Path, default=DATA)
    w.add_argument("--readme", type=Path, default=README)
    w.add_argument("--out", type=Path, default=RESULTS, help="the table and every run, as Markdown")
    args = parser.parse_args()

    if args.command == "render":
        records = load(args.data)
        table, etcd_table = render(records), detect_etcd.render(records)
        write_readme(table, args.readme)
        write_readme(etcd_table, args.readme, detect_etcd.BEGIN, detect_etcd.END)
        args.out.write_text(f"# raft-jepsen detection (generated by `bench/detect.py render`: do not edit)\n\n"
                            f"{table}\n## etcd\n\n{etcd_table}\nEvery run:\n\n{run_list(records)}",
                            encoding="utf-8")
        print(table + "\n" + etcd_table)
        return
    if args.system == "etcd":
        settings = [s.strip() for s in (args.settings or ",".join(detect_etcd.SETTINGS)).split(",") if s.strip()]
        bad = [s for s in settings if s not in detect_etcd.SETTINGS]
        if bad:
            sys.exit(f"unknown etcd setting {bad[0]!r} (expected one of {', '.join(detect_etcd.SETTINGS)})")
        run_rows(args, [(s, None) for s in settings])
        return
    known = systems.get(args.system).bugs
    bugs = [b.strip() for b in (args.bugs or ",".join(SWITCHES)).split(",") if b.strip()]
    bad = [b for b in bugs if b not in known or b not in SWITCHES]
    if bad:
        sys.exit(f"unknown bug {bad[0]!r} (expected one of {', '.join(b for b in SWITCHES if b in known)})")
    def setting_of(bug: str) -> str:
        return args.setting or SWITCHES[bug][0]

    rows: list[tuple[str, str | None]] = [] if args.only_controls else [(setting_of(b), b) for b in bugs]
    if args.controls or args.only_controls:
        rows += [(s, None) for s in dict.fromkeys(setting_of(b) for b in bugs)]
    run_rows(args, rows)


def run_rows(args: argparse.Namespace, rows: list[tuple[str, str | None]]) -> None:
    for setting, bug in rows:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            record = run_one(setting, bug, seed, args)
            with args.data.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record, sort_keys=True) + "\n")
            at = f" first bad op at {record['first_bad_s']:.1f} s" if record["first_bad_s"] is not None else ""
            print(f"{bug or 'control':<20} {setting:<14} seed {seed:<3} {record['verdict']:<8}{at} "
                  f"({record['wall_s']:.0f} s wall){': ' + record['note'] if record['note'] else ''}", flush=True)


if __name__ == "__main__":
    main()
