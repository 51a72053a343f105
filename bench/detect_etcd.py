"""etcd's rows of the detection data (bench/detect.py): etcd has no bug switches, so a row is one
setting over several seeds, and a run found invalid is either an etcd bug or ours, told apart
from its history and the members' logs before it is reported (the note says which). Runs are
kept in the same `bench/detect-runs.jsonl` with `"system": "etcd"`; their table goes into the
README's etcd section between `<!-- detect-etcd:begin -->` and `<!-- detect-etcd:end -->`.

    flock LOCK python3 bench/detect.py run --system etcd --settings register --first-seed 1 --seeds 1
"""

from __future__ import annotations

import statistics
from collections import defaultdict

BEGIN, END = "<!-- detect-etcd:begin -->", "<!-- detect-etcd:end -->"
TIME_LIMIT = 60.0

# setting -> options beyond the defaults (partition,kill,pause every 3 s, 5 members, register,
# linearizable reads, pre-vote on), and what the row is for.
SETTINGS: dict[str, tuple[dict, str]] = {
    "register": ({}, "linearizable reads: must be valid"),
    "append": ({"workload": "append"}, "list-append (a txn guarded by `mod_revision`): must be valid"),
    "serializable-partition": ({"system-opt": {"reads": "serializable"}, "nemesis": "partition"},
                               "the checker's control: a member cut off from the leader answers from its "
                               "local state, so stale reads must be found (invalid)"),
    "register-no-pre-vote": ({"system-opt": {"pre-vote": "false"}},
                             "etcd 3.4's own default (`--pre-vote=false`): the liveness control of the default"),
}
EXPECT_INVALID = {"serializable-partition"}

# setting -> what the invalid and unknown runs of that row turned out to be, from their run
# folders (history.jsonl, results.json, nodes/nK/etcd.log); shown in the table's last column.
FINDINGS: dict[str, str] = {
    "serializable-partition": "the stale reads the option allows, as seed 1's run folder shows: during a ring "
                              "partition (45.4-48.4 s) n4, cut off from n2 and n5, answered a read begun at "
                              "47.750 s with 4, though write 3 had been acknowledged by n3 at 47.680 s; seeds "
                              "2-5 fail the same way (a read returns a value overwritten by a write acknowledged "
                              "before the read began)",
    "register-no-pre-vote": "etcd's, not ours (safety valid in every run): seed 2's first window (15.2-28.3 s "
                            "without an ok) is 3.4 without pre-vote, from its raft log lines: the leader n3 was "
                            "cut off at 15.5 s; on the majority side the lagging n1 and n2 (log index 504) "
                            "campaigned at terms 4, 5, 6, were refused by n4 (507) and n5 (509), and each "
                            "higher term reset those two; after the heal (21.2 s) n4 at term 7 was refused "
                            "too, then a kill of three members (25.1-27.9 s), and n3 (511) won term 8 at "
                            "28.2 s; its second (39.0-51.1 s) is ring and halves partitions, 2.8 s of such "
                            "candidacies after their heal, then three members paused. Seed 3's (24.0-35.8 s) "
                            "likewise: around a bridge partition's heal (27.2 s) n2 then n1 (index 422) "
                            "campaigned at terms 9, 10, 11, refused by the three members at index 570 and "
                            "resetting them, with every member paused in between (30.1-33.2 s); n3 (570) won "
                            "term 12 at 35.8 s. The same seeds with pre-vote on (the register row) stayed valid",
}


def options_for(setting: str) -> dict:
    return {"time-limit": TIME_LIMIT, **SETTINGS[setting][0]}


def outcome(record: dict) -> str:
    """valid, safety (a safety checker failed), liveness (only liveness checkers failed) or unknown."""
    if record["verdict"] == "valid":
        return "valid"
    if record["verdict"] == "invalid":
        return "liveness" if record.get("safety") is not False and record.get("liveness") is False else "safety"
    return "unknown"


def _options_text(options: dict) -> str:
    parts = []
    for key, value in options.items():
        if key == "system-opt":
            parts += [f"`--system-opt {k}={v}`" for k, v in value.items()]
        elif key != "time-limit":
            parts.append(f"`--{key} {value}`")
    return " ".join(parts) or "defaults"


def render(records: list[dict]) -> str:
    """The etcd table, from the data alone: one row per setting."""
    records = [r for r in records if r.get("system") == "etcd"]
    if not records:
        return "No etcd runs in the data yet.\n"
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        groups[r["setting"]].append(r)
    dates = sorted(r["date"][:10] for r in records)
    limits = sorted({r["options"].get("time-limit") for r in records})
    lines = [
        f"Measured {dates[0]}..{dates[-1]} by `bench/detect.py` ({len(records)} runs of etcd 3.4.23, one at a time "
        f"under the shared bench lock on the 2-core machine; time limit {', '.join(f'{t:g} s' for t in limits)}; "
        "5 members, register workload, `--nemesis partition,kill,pause` every 3 s, linearizable reads, "
        "pre-vote on, availability window 10 s unless the setting says otherwise; each run "
        "`python3 bench/detect.py run --system etcd --settings NAME --first-seed S --seeds 1`). "
        "Rendered from `bench/detect-runs.jsonl` by `python3 bench/detect.py render`: do not edit by hand.",
        "",
        "| setting | seeds | runs | valid | invalid: safety (checkers) | invalid: liveness only | unknown "
        "| median s to first bad op | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(SETTINGS)
    for setting in sorted(groups, key=lambda s: order.index(s) if s in order else len(order)):
        runs = groups[setting]
        by = defaultdict(list)
        for r in runs:
            by[outcome(r)].append(r)
        checkers = sorted({c for r in by["safety"] for c in r.get("failed", [])})
        safety = f"{len(by['safety'])}" + (f" ({', '.join(checkers)})" if checkers else "")
        if setting in EXPECT_INVALID and by["safety"]:
            safety = f"**{safety}**"
        firsts = [r["first_bad_s"] for r in by["safety"] if r.get("first_bad_s") is not None]
        notes = [SETTINGS.get(setting, ({}, ""))[1]]
        if setting in FINDINGS:
            notes.append(FINDINGS[setting])
        seeds = sorted({r["seed"] for r in runs})
        lines.append(f"| {setting}: {_options_text(runs[0]['options'])} | {_seed_text(seeds)} | {len(runs)} "
                     f"| {len(by['valid'])} | {safety} | {len(by['liveness'])} | {len(by['unknown'])} "
                     f"| {f'{statistics.median(firsts):.1f}' if firsts else '–'} | {'; '.join(n for n in notes if n)} |")
    return "\n".join(lines) + "\n"


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))
