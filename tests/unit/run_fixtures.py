"""Synthetic run folders, as `raft-jepsen run` writes them (docs/architecture.md, "Run folder").

The reports are tested long before real runs exist, so this module simulates one: clients on a
few registers, a nemesis that partitions and kills on a schedule, retired processes after `info`,
node logs with role changes, and a `results.json` whose linearizability result describes the
history it sits beside. An invalid run has one stale read on one key (the classic lost update a
partitioned leader serves); its failure names that read as stuck after the prefix before it.
Everything is deterministic given the seed.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import replace
from pathlib import Path

import yaml

from raft_jepsen.checkers.plain_words import sentence
from raft_jepsen.harness.history import Op, write_jsonl
from raft_jepsen.harness.history.roles import RoleChange
from raft_jepsen.harness.history.roles import write_jsonl as write_roles

STARTED_EPOCH_NS = 1_795_000_000_000_000_000
NODES = ["n1", "n2", "n3", "n4", "n5"]
FAULTS = [("start-partition", "stop-partition"), ("kill", "start")]


def make_run(
    root: Path,
    *,
    n_ops: int = 2000,
    valid: bool = True,
    seed: int = 1,
    concurrency: int = 5,
    keys: int = 3,
    test: str = "raftkv-register",
    started: str = "20261123T150211",
    bugs: tuple[str, ...] = (),
) -> Path:
    """Write a run folder `root/<test>/<started>/` with about `n_ops` history lines; return it."""
    rng = random.Random(seed)
    run_dir = root / test / started
    (run_dir / "nodes").mkdir(parents=True, exist_ok=True)
    ops, faults = _simulate(rng, n_ops, concurrency, keys)
    failure = None if valid else _inject_stale_read(ops)
    write_jsonl(run_dir / "history.jsonl", ops)
    duration_ns = max(op.time for op in ops) + 1_000_000
    _write_node_logs(run_dir, rng, faults)
    lin = {"valid": True, "model": "cas-register", "partitions": keys, "op_count": _count_calls(ops),
           "elapsed_s": 0.01, "failures": [], "unknown": []}
    if failure:
        lin.update(valid=False, failures=[failure])
    counts = {t: sum(1 for op in ops if op.is_client and op.type == t) for t in ("invoke", "ok", "fail", "info")}
    results = {
        "schema": 1, "valid": lin["valid"], "reason": None, "test": test, "run_dir": str(run_dir),
        "started": f"{started[:4]}-{started[4:6]}-{started[6:8]}T{started[9:11]}:{started[11:13]}:{started[13:15]}Z",
        "started_epoch_ns": STARTED_EPOCH_NS, "duration_s": round(duration_ns / 1e9, 3), "seed": seed,
        "system": "raftkv", "bugs": list(bugs), "workload": "register", "nemesis": ["partition", "kill"],
        "nodes": NODES, "op_counts": counts,
        "checkers": {"linearizable": lin, "stats": {"valid": True, "ok_fraction": round(counts["ok"] / max(1, counts["invoke"]), 3)}},
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    spec = {"test": test, "system": "raftkv", "bugs": list(bugs), "workload": "register", "seed": seed,
            "nemesis": ["partition", "kill"], "nodes": len(NODES), "concurrency": concurrency}
    (run_dir / "test.yaml").write_text(yaml.safe_dump(spec))
    return run_dir


def _simulate(rng: random.Random, n_ops: int, concurrency: int, keys: int) -> tuple[list[Op], list[tuple[int, int, str]]]:
    """Clients invoke as soon as their last op ends; effects happen at invocation (so the result is
    linearizable), except that `fail` has none and `info` has one half of the time."""
    n_calls = n_ops // 2
    fault_every = max(1, n_calls // 5)
    registers: dict[str, int | None] = {f"k{i}": None for i in range(keys)}
    events: list[tuple[int, int, int, dict]] = []  # (time, seq, process, pending completion)
    ops: list[Op] = []
    faults: list[tuple[int, int, str]] = []
    in_fault_until = -1
    next_process = concurrency
    now = 0
    seq = 0
    for p in range(concurrency):
        heapq.heappush(events, (rng.randrange(1_000_000), seq, p, {}))
        seq += 1
    calls = 0
    fresh = 0
    while calls < n_calls:
        now, _, process, pending = heapq.heappop(events)
        if pending:
            ops.append(Op(index=len(ops), time=now, **pending))
            if process == -1:  # the nemesis healing its fault, not a client
                continue
            if pending["type"] == "info":
                process, next_process = next_process, next_process + 1
        if calls and calls % fault_every == 0 and now > in_fault_until:
            start_f, stop_f = FAULTS[(calls // fault_every) % 2]
            value = {"grudge": {"n1": ["n3", "n4", "n5"]}, "verified_ms": 41} if start_f == "start-partition" else {"nodes": [rng.choice(NODES)]}
            length = rng.randrange(1_000_000_000, 2_500_000_000)
            ops.append(Op(index=len(ops), type="info", process="nemesis", f=start_f, value=value, time=now))
            faults.append((now, now + length, start_f))
            in_fault_until = now + length
            heapq.heappush(events, (now + length, seq, -1, {"type": "info", "process": "nemesis", "f": stop_f, "value": value}))
            seq += 1
        key = f"k{rng.randrange(keys)}"
        f = rng.choice(["read", "read", "write", "cas"])
        # every write and cas writes a fresh value (what makes an injected stale read certain);
        # cas guesses the current value half the time, so that both outcomes are common
        fresh += 1
        guess = registers[key] if rng.random() < 0.5 else rng.randrange(fresh)
        value = {"read": None, "write": fresh, "cas": [guess, fresh]}[f]
        node = rng.choice(NODES)
        ops.append(Op(index=len(ops), type="invoke", process=process, f=f, key=key, value=value, time=now, node=node))
        calls += 1
        faulty = now < in_fault_until
        latency = int(rng.lognormvariate(14.5 if not faulty else 18, 0.6))
        outcome = rng.choices(["ok", "fail", "info"], [90, 7, 3] if not faulty else [40, 35, 25])[0]
        happened = outcome == "ok" or (outcome == "info" and rng.random() < 0.5)
        error = {"ok": None, "fail": "not-leader", "info": "timeout"}[outcome]
        out = value
        if f == "read":
            out = registers[key]
        elif f == "cas" and registers[key] != value[0]:
            outcome, happened, error = "fail", False, "cas-mismatch"
        if happened and f == "write":
            registers[key] = value
        elif happened and f == "cas":
            registers[key] = value[1]
        completion = {"type": outcome, "process": process, "f": f, "key": key, "node": node,
                      "value": out if outcome == "ok" else value}
        if error:
            completion["error"] = error
        heapq.heappush(events, (now + latency, seq, process, completion))
        seq += 1
    return ops, faults


def _inject_stale_read(ops: list[Op]) -> dict:
    """Turn an ok read, three quarters into the history, into one that returns a value that was
    overwritten before it began; return the linearizability failure that describes it.

    Every write and cas writes a value never written before (see `_simulate`), so once a later
    write has completed, nothing can bring the old value back: the read is certainly stale."""
    calls = _calls(ops)
    by_key: dict = {}
    for i, c in calls:
        by_key.setdefault(i.key, []).append((i, c))
    for inv, comp in reversed(calls[: len(calls) * 3 // 4]):
        if inv.f != "read" or comp is None or comp.type != "ok":
            continue
        done = [(i, c) for i, c in by_key[inv.key] if i.f == "write" and c is not None and c.type == "ok" and c.time < inv.time]
        if not done:
            continue
        last = done[-1][0]
        older = [i for i, c in done if c.time < last.time]
        if not older:
            continue
        stale = older[-1].value
        ops[comp.index] = replace(comp, value=stale)
        key_calls = by_key[inv.key]
        linearized = [i.index for i, c in key_calls if i.time < inv.time and (c is None or c.type != "fail")]
        before = ops[linearized[-1]]
        # the minimal explanation: the stale value's write, the write that overwrote it, the read
        # (every value is new, so relaxing any one of them lets the read fit)
        minimal = [older[-1].index, last.index, inv.index]
        records = [{"index": i.index, "f": i.f, "value": i.value, "output": stale if i.index == inv.index else i.value,
                    "type": "ok", "call": i.time, "return": ops[c.index].time}
                   for i, c in key_calls if i.index in minimal]
        explanation = sentence(records, records, register=True, initial=None, model="cas-register",
                               describe=lambda o: f"read → {o['output']}" if o["f"] == "read" else f"write {o['value']}")
        return {
            "key": inv.key,
            "ops": [{"index": i.index, "process": i.process, "f": i.f, "value": i.value,
                     "output": stale if i.index == inv.index else (c.value if c else None),
                     "type": c.type if c else "info",
                     "call": i.time, "return": c.time if c and c.type != "info" else None}  # info may happen any time later
                    for i, c in key_calls],
            "linearized": linearized,
            "state": json.dumps(last.value),
            "stuck": [inv.index],
            "minimal": minimal,
            "minimal_proven": True,
            "explanation": explanation,
            "message": f"no linearization: after {before.f} {json.dumps(before.value)} (op {before.index}), "
                       f"read → {json.dumps(stale)} (op {inv.index}) cannot take effect",
        }
    raise AssertionError("history too short to hold a stale read")


def _write_node_logs(run_dir: Path, rng: random.Random, faults: list[tuple[int, int, str]]) -> None:
    lines: dict[str, list[dict]] = {n: [] for n in NODES}
    term, leader = 1, "n1"

    def elect(t_ns: int) -> None:
        for n in NODES:
            lines[n].append({"ts": (STARTED_EPOCH_NS + t_ns) / 1e9, "node": n, "event": "role", "term": term,
                             "role": "leader" if n == leader else "follower", "leader": leader})

    elect(0)
    for start, _stop, _f in faults:
        term += 1
        leader = rng.choice([n for n in NODES if n != leader])
        elect(start + rng.randrange(200_000_000, 900_000_000))
    for n, events in lines.items():
        (run_dir / "nodes" / n).mkdir(exist_ok=True)
        with open(run_dir / "nodes" / n / "node.log", "w") as fh:
            fh.write(json.dumps({"ts": STARTED_EPOCH_NS / 1e9, "node": n, "event": "start"}) + "\n")
            for e in events:
                fh.write(json.dumps(e) + "\n")
    # what the runner derives from those logs through the raftkv adapter
    changes = [RoleChange(round(e["ts"] * 1e9) - STARTED_EPOCH_NS, e["node"], e["role"], e["term"], e["leader"])
               for events in lines.values() for e in events]
    write_roles(run_dir / "roles.jsonl", sorted(changes, key=lambda c: c.time))


def _calls(ops: list[Op]) -> list[tuple[Op, Op | None]]:
    open_: dict = {}
    out: list[list] = []
    for op in ops:
        if not op.is_client:
            continue
        if op.type == "invoke":
            open_[op.process] = len(out)
            out.append([op, None])
        else:
            out[open_.pop(op.process)][1] = op
    return [(i, c) for i, c in out]


def _count_calls(ops: list[Op]) -> int:
    return sum(1 for op in ops if op.is_client and op.type == "invoke")


def make_not_a_run(root: Path, kind: str) -> Path:
    """Folders the report must refuse with one line: empty, bad JSON, wrong schema, a field of the
    wrong type, a torn line in the history (a cut-off last line is not one: it is left out, with a
    note)."""
    d = root / f"broken-{kind}"
    d.mkdir(parents=True)
    if kind == "bad-json":
        (d / "results.json").write_text("{not json")
    elif kind == "schema":
        (d / "results.json").write_text(json.dumps({"schema": 99, "valid": True}))
    elif kind == "bad-field":
        (d / "results.json").write_text(json.dumps({"schema": 1, "valid": True, "checkers": [], "started_epoch_ns": 0}))
    elif kind == "bad-history":
        (d / "results.json").write_text(json.dumps({"schema": 1, "valid": True, "started_epoch_ns": 0}))
        (d / "history.jsonl").write_text('{"index": 0, "type": "invoke", "process": 1, "f": "read", "time": 0}\n{"trunc\n{}\n')
    return d
