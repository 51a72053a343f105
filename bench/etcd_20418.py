"""What the runs of an etcd#20418 campaign exposed etcd to: for each pause of the leader, did the
ingredients of the bug come together? (Stale linearizable reads in etcd 3.4.20-3.4.41: a
follower's read loop re-sends ReadIndex with the same request id every 500 ms; a late heartbeat
response to the first copy acknowledges the second copy at a leader that was deposed meanwhile and
releases the reads queued before it; the README section "etcd#20418" has the mechanism and sources.)

Per pause of the leader (a `pause` nemesis record whose target was the leader):
- `s`: how long it was stopped (from the fault's invocation to the resume's: an upper bound);
- `leader_change`: another node logged that it leads while it was stopped (it came back deposed);
- `acked`: writes and cas acknowledged by other nodes while it was stopped;
- `late_reads`: reads sent to the stopped leader after the first of those acknowledgements (the
  reads a stale answer would show), and how many of them it answered `ok`;
- `inflight_reads`: reads it had in flight when stopped that it answered after it came back;
- `retries`: the other members' "waiting for ReadIndex response took too long, retrying" log
  lines while it was stopped (a follower re-sending the same ReadIndex id: the bug's duplicate),
  and `retried_to_old`: those logged before that member had seen the new leader (so the copy went
  to the stopped leader);
- `hb_late_s`: the longest "leader failed to send out heartbeat on time" delay (plus the expected
  interval) it logged on coming back: how long etcd itself saw it stopped; the window above starts
  then when it is known.

    python3 bench/etcd_20418.py STORE_OR_RUN_DIR... [--detail] [--jsonl FILE]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path

NS = 1_000_000_000


def run_dirs(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        if (p / "history.jsonl").is_file():
            found.append(p)
        else:
            found += sorted(h.parent for h in p.rglob("history.jsonl"))
    # a store's `latest` is another name for its last run: count each run once
    return list({run.resolve(): run for run in found if (run / "results.json").is_file()}.values())


def _epoch_ns(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * NS)


def log_events(run: Path, started: int) -> dict[str, list[tuple[int, str, dict]]]:
    """node -> [(run time ns, msg, record)] for the log lines this analysis reads."""
    wanted = ("took too long, retrying", "failed to send out heartbeat on time", "elected leader",
              "ignored out-of-date read index response", "linearizableReadLoop")
    events: dict[str, list] = {}
    for log in sorted(run.glob("nodes/*/etcd.log")):
        rows = events.setdefault(log.parent.name, [])
        for line in log.open(errors="replace"):
            if not any(w in line for w in wanted):
                continue
            try:
                rec = json.loads(line)
                rows.append((_epoch_ns(rec["ts"]) - started, rec.get("msg", ""), rec))
            except (ValueError, KeyError):
                continue
    return events


def _seconds(text: str) -> float:
    """A Go duration such as '2.406773972s' or '980.1ms'."""
    m = re.fullmatch(r"([\d.]+)(ms|s|µs|us|m)", text or "")
    if not m:
        return 0.0
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "µs": 1e-6, "us": 1e-6, "m": 60.0}[m.group(2)]


def analyse(run: Path) -> dict:
    results = json.loads((run / "results.json").read_text())
    started = results["started_epoch_ns"]
    ops = [json.loads(line) for line in (run / "history.jsonl").open() if line.strip()]
    roles = [json.loads(line) for line in (run / "roles.jsonl").open()] if (run / "roles.jsonl").exists() else []
    events = log_events(run, started)
    calls, open_ = [], {}
    for op in ops:
        if op["process"] == "nemesis":
            continue
        if op["type"] == "invoke":
            open_[op["process"]] = op
        else:
            calls.append((open_.pop(op["process"]), op))
    calls += [(i, None) for i in open_.values()]
    pauses, current = [], None
    for op in ops:
        if op["process"] != "nemesis":
            continue
        value = op.get("value") or {}
        if op["f"] == "pause" and value.get("nodes") and value.get("target") == "leader":
            current = (op["time"] - int(value.get("verified_ms", 0)) * 1_000_000, value["nodes"][0])
        elif op["f"] == "resume" and current is not None:
            pauses.append((*current, op["time"] - int(value.get("verified_ms", 0)) * 1_000_000))  # resume began
            current = None
    rows = []
    for t0, leader, t1 in pauses:
        # The record's time minus verified_ms includes finding the leader: etcd's own account is
        # closer. On resume the leader logs how late its heartbeat was; it stopped that long
        # (plus the expected interval) before the line.
        hb = [(t, _seconds(rec.get("exceeded-duration", "")) + _seconds(rec.get("expected-duration", "")))
              for t, msg, rec in events.get(leader, []) if "failed to send out heartbeat" in msg and abs(t - t1) <= NS]
        stopped = max(hb, key=lambda x: x[1], default=None)
        if stopped is not None and 0.5 < stopped[1] < (t1 - t0) / NS + 1:
            t0 = max(t0, stopped[0] - int(stopped[1] * NS))
        new_leaders = [r for r in roles if r.get("role") == "leader" and r.get("node") != leader and t0 <= r["time"] <= t1]
        acks = sorted(c["time"] for i, c in calls if c is not None and c["type"] == "ok"
                      and i["f"] in ("write", "cas") and t0 <= c["time"] <= t1)
        on_leader = [(i, c) for i, c in calls if (c or i).get("node") == leader and i["f"] == "read"]
        late = [(i, c) for i, c in on_leader if acks and acks[0] <= i["time"] <= t1]
        inflight = [(i, c) for i, c in on_leader if i["time"] < t0 and c is not None and c["time"] > t1]
        retries = [(t, rec) for node, rows_ in events.items() if node != leader
                   for t, msg, rec in rows_ if "took too long, retrying" in msg and t0 <= t <= t1]
        first_seen = {node: min((t for t, msg, _ in rows_ if "elected leader" in msg and t0 <= t), default=None)
                      for node, rows_ in events.items()}
        to_old = [t for t, rec in retries
                  if first_seen.get(_node_of(rec, events)) is None or t < first_seen[_node_of(rec, events)]]
        rows.append({"leader": leader, "s": round((t1 - t0) / NS, 2), "leader_change": bool(new_leaders),
                     "acked": len(acks), "late_reads": len(late), "late_reads_ok": sum(bool(c and c["type"] == "ok") for _, c in late),
                     "inflight_reads": len(inflight), "retries": len(retries), "retried_to_old": len(to_old),
                     "hb_late_s": round(stopped[1], 2) if stopped else None})
    return {"run": str(run), "seed": results.get("seed"), "valid": results.get("valid"), "pauses": rows}


def _node_of(rec: dict, events: dict) -> str | None:
    for node, rows in events.items():
        if any(r is rec for _, _, r in rows):
            return node
    return None


def summary(a: dict) -> dict:
    p = a["pauses"]
    return {"seed": a["seed"], "valid": a["valid"], "leader_pauses": len(p),
            "straddling_leader_change": sum(x["leader_change"] for x in p),
            "late_reads_ok": sum(x["late_reads_ok"] for x in p), "inflight_reads": sum(x["inflight_reads"] for x in p),
            "follower_retries": sum(x["retries"] for x in p), "retried_to_old_leader": sum(x["retried_to_old"] for x in p),
            "pauses_with_all_ingredients": sum(x["leader_change"] and x["late_reads_ok"] > 0 and x["retried_to_old"] > 0 for x in p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--detail", action="store_true", help="one line per pause")
    parser.add_argument("--jsonl", help="append one JSON line per run (the summary and its pauses) to FILE")
    args = parser.parse_args()
    totals: dict[str, int] = {}
    runs = run_dirs(args.paths)
    for run in runs:
        a = analyse(run)
        s = summary(a)
        print(json.dumps(s))
        if args.detail:
            for x in a["pauses"]:
                print("   ", json.dumps(x))
        if args.jsonl:
            with open(args.jsonl, "a") as fh:
                fh.write(json.dumps({**s, "run": a["run"], "pauses": a["pauses"]}) + "\n")
        for k, v in s.items():
            if k not in ("seed", "valid"):
                totals[k] = totals.get(k, 0) + v
        totals["invalid"] = totals.get("invalid", 0) + (s["valid"] is False)
    print(f"{len(runs)} runs: " + ", ".join(f"{k} {v}" for k, v in totals.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
