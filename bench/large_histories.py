"""Benchmark: the linearizability checker on large and hard histories, synthesised (seeded).

Cases (each checked in a child process of its own, so that its peak memory is its own):

- `cluster-100k`: 100,000 ops by 50 client threads, 4 threads to a key and about 100 ops per
  key as the register workload runs them (about 1,000 keys), values 0..4, a third each read /
  write / cas; latencies log-normal around 8 ms; every 15 s a 5 s fault window in which ops time
  out (`info`, taking effect later or never) or are refused (`fail`). Overall about 2-3% of ops
  indeterminate, as in real raftkv runs (e.g. 68 of 2,520 timed out in one register run).
- `hot-key`: one key, 1,000 ops by 10 threads, 30 indeterminate writes; linearizable.
- `hot-key-unwritten`: the same with one read of a value nobody ever wrote (no search needed).
- `hot-key-stale`: the same with one read of a value overwritten before the read began (decided
  from the times alone, without search).
- `hot-key-stale-search`: the same history with that time-based test switched off, so the search
  must decide: it shows the deadline and the memory bound at work (`unknown`, never a hang).

Prints, per case and core: the verdict, seconds to load (parse the JSONL) and check, seconds to
check alone, the checker's own estimate of its peak search memory, and the child's peak RSS (the
whole process: Python, the history, the checker).

    python bench/large_histories.py [--seed 1] [--timeout 60] [--memory-mb 1024]
                                    [--core both|native|python] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VALUES = 5
NS = 1_000_000_000


def _latency(rng: random.Random) -> int:
    return int(rng.lognormvariate(math.log(0.008), 0.8) * NS) + 200_000


def _simulate(ops: list[dict], rng: random.Random) -> list[dict]:
    """Gives each op its outcome by applying them at their linearization points, per key."""
    state: dict = {}
    for op in sorted((o for o in ops if o["at"] is not None), key=lambda o: o["at"]):
        key, f = op["key"], op["f"]
        current = state.get(key)
        if f == "read":
            op["out"] = current
        elif f == "write":
            state[key] = op["value"]
        else:
            old, new = op["value"]
            op["matched"] = current == old
            if current == old:
                state[key] = new
    return ops


def _events(ops: list[dict], clients: int) -> list[dict]:
    """JSONL events (the harness's own format) from simulated ops: a thread whose op timed out
    continues as a new process, as Jepsen's clients do."""
    events = []
    for op in ops:
        process = op["thread"] + clients * op["life"]
        base = {"process": process, "f": op["f"], "key": op["key"]}
        value = None if op["f"] == "read" else op["value"]
        events.append((op["start"], 0, {**base, "type": "invoke", "value": value, "time": op["start"]}))
        if op["kind"] == "info":
            done = {**base, "type": "info", "value": value, "error": "timeout"}
        elif op["kind"] == "fail":
            done = {**base, "type": "fail", "value": value, "error": "not-leader"}
        elif op["f"] == "read":
            done = {**base, "type": "ok", "value": op["out"]}
        elif op["f"] == "cas" and not op["matched"]:
            done = {**base, "type": "fail", "value": value, "error": "cas-mismatch"}
        else:
            done = {**base, "type": "ok", "value": value}
        events.append((op["end"], 1, {**done, "time": op["end"]}))
    events.sort(key=lambda e: (e[0], e[1]))
    return [{"index": i, **e} for i, (_, _, e) in enumerate(events)]


def _random_op(rng: random.Random) -> tuple[str, object]:
    f = rng.choice(("read", "write", "cas"))
    if f == "read":
        return f, None
    if f == "write":
        return f, rng.randrange(VALUES)
    return f, [rng.randrange(VALUES), rng.randrange(VALUES)]


def cluster(seed: int, n_ops: int = 100_000, clients: int = 50, per_key: int = 100) -> list[dict]:
    """The register workload's shape with faults (see the module's docstring)."""
    rng = random.Random(seed)
    groups = max(1, clients // 4)
    per_thread = -(-per_key // 4)
    clock = [rng.randrange(10 * 1_000_000) for _ in range(clients)]
    done = [0] * clients
    life = [0] * clients
    ops = []
    while len(ops) < n_ops:
        t = min(range(clients), key=lambda k: clock[k])
        start = clock[t]
        group = t // 4 % groups
        key = f"k{group + groups * (done[t] // per_thread)}"
        f, value = _random_op(rng)
        faulty = (start // NS) % 15 >= 10  # a 5 s fault window every 15 s
        roll = rng.random()
        if faulty and roll < 0.10:
            kind, end = "info", start + NS  # the client's 1 s timeout
            at = start + int(rng.random() * 1.5 * NS) if rng.random() < 0.5 else None
        elif faulty and roll < 0.22:
            kind, end, at = "fail", start + _latency(rng), None
        else:
            kind = "ok"
            end = start + _latency(rng)
            at = start + int(rng.random() * (end - start))
        ops.append({"thread": t, "life": life[t], "key": key, "f": f, "value": value,
                    "start": start, "end": end, "at": at, "kind": kind})
        if kind != "fail":
            done[t] += 1
        if kind == "info":
            life[t] += 1
        clock[t] = end + rng.randrange(1_000_000)
    return _events(_simulate(ops, rng), clients)


def hot_key(seed: int, n_ops: int = 1000, clients: int = 10, indeterminate_writes: int = 30) -> list[dict]:
    """One key, `clients` threads on it, `indeterminate_writes` of its writes timing out."""
    rng = random.Random(seed)
    clock = [rng.randrange(1_000_000) for _ in range(clients)]
    life = [0] * clients
    specs = [_random_op(rng) for _ in range(n_ops)]
    writes = [k for k, (f, _) in enumerate(specs) if f == "write"]
    timing_out = set(rng.sample(writes, indeterminate_writes))
    ops = []
    for k, (f, value) in enumerate(specs):
        t = min(range(clients), key=lambda j: clock[j])
        start = clock[t]
        if k in timing_out:
            end = start + NS // 10
            at = start + int(rng.random() * NS / 5) if rng.random() < 0.5 else None
            kind = "info"
        else:
            end = start + _latency(rng)
            at = start + int(rng.random() * (end - start))
            kind = "ok"
        ops.append({"thread": t, "life": life[t], "key": "hot", "f": f, "value": value,
                    "start": start, "end": end, "at": at, "kind": kind})
        if kind == "info":
            life[t] += 1
        clock[t] = end + rng.randrange(1_000_000)
    return _events(_simulate(ops, rng), clients)


def with_read(events: list[dict], value_of) -> list[dict]:
    """A copy in which the ok read nearest the middle returns `value_of(events, read)`."""
    events = [dict(e) for e in events]
    middle = len(events) // 2
    reads = [k for k, e in enumerate(events) if e["type"] == "ok" and e["f"] == "read"]
    k = min(reads, key=lambda j: abs(j - middle))
    events[k]["value"] = value_of(events, k)
    return events


def unwritten(events: list[dict], k: int) -> int:
    return 99  # values are 0..4


def stale(events: list[dict], k: int) -> int:
    """Value 7 (no other op uses it), written by a completed write that a later completed write
    overwrote before this read began: the write is changed to write 7, and the read reads it.
    Only the search can tell, as the write of 7 began before the read."""
    read = events[k]
    began = next(e["time"] for e in reversed(events[:k]) if e["type"] == "invoke" and e["process"] == read["process"])
    done = [j for j, e in enumerate(events) if e["type"] == "ok" and e["f"] == "write" and e["time"] < began]
    v = done[-10]  # ten completed writes before the read began
    invoke = next(j for j in range(v - 1, -1, -1) if events[j]["process"] == events[v]["process"])
    events[v]["value"] = events[invoke]["value"] = 7
    return 7


CASES = {
    "cluster-100k": lambda seed: cluster(seed),
    "hot-key": lambda seed: hot_key(seed),
    "hot-key-unwritten": lambda seed: with_read(hot_key(seed), unwritten),
    "hot-key-stale": lambda seed: with_read(hot_key(seed), stale),
    "hot-key-stale-search": lambda seed: with_read(hot_key(seed), stale),
}
NO_CONTRADICTIONS = {"hot-key-stale-search"}  # checked by the search alone


def child(path: str, core: str, timeout: float, memory_mb: float, case: str) -> None:
    """Loads and checks one history; prints one JSON line."""
    if core == "python":
        os.environ["RAFT_JEPSEN_PURE_PYTHON"] = "1"
    from dataclasses import replace

    from raft_jepsen.checkers.linearizable import LinearizabilityChecker
    from raft_jepsen.checkers.models import get_model
    from raft_jepsen.harness.history.importers import load

    model = get_model("cas-register")
    if case in NO_CONTRADICTIONS:
        model = replace(model, contradictions=None)

    t0 = time.perf_counter()
    history = load(path, "jsonl")
    t1 = time.perf_counter()
    result = LinearizabilityChecker(model, timeout, max_memory_mb=memory_mb).check(history)
    t2 = time.perf_counter()
    print(json.dumps({
        "valid": result["valid"], "ops": result["op_count"], "keys": result["partitions"],
        "load_check_s": t2 - t0, "check_s": t2 - t1, "search_peak_mb": result["memory_peak_mb"],
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "why": (result["failures"][0]["message"] if result["failures"]
                else result["unknown"][0]["reason"] if result["unknown"] else ""),
        "minimal": result["failures"][0].get("minimal") if result["failures"] else None,
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--memory-mb", type=float, default=1024.0)
    parser.add_argument("--core", choices=["both", "native", "python"], default="both")
    parser.add_argument("--case", nargs="*", choices=list(CASES), default=list(CASES))
    parser.add_argument("--child", nargs=3, metavar=("PATH", "CORE", "CASE"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, metavar=("CASE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        events = CASES[args.generate[0]](args.seed)
        Path(args.generate[1]).write_text("".join(json.dumps(e) + "\n" for e in events))
        return 0
    if args.child:
        child(*args.child[:2], args.timeout, args.memory_mb, args.child[2])
        return 0
    cores = ["native", "python"] if args.core == "both" else [args.core]
    print(f"seed {args.seed}, deadline {args.timeout:g} s, memory bound {args.memory_mb:g} MB (whole check)")
    print(f"{'case':20} {'core':6} {'ops':>7} {'keys':>5} {'verdict':>8} {'load+check s':>12} {'check s':>8} "
          f"{'search MB':>9} {'RSS MB':>7}  why")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case:
            path = Path(tmp) / f"{name}.jsonl"
            # generated in a child of its own: a child's peak RSS starts from its parent's
            subprocess.run([sys.executable, __file__, "--generate", name, str(path), "--seed", str(args.seed)], check=True)
            for core in cores:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(path), core, name, "--timeout", str(args.timeout),
                     "--memory-mb", str(args.memory_mb)], capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{name:20} {core:6} crashed: {out.stderr.strip().splitlines()[-1:]}")
                    continue
                r = json.loads(out.stdout)
                why = r["why"][:90] + (f" minimal={r['minimal']}" if r["minimal"] else "")
                print(f"{name:20} {core:6} {r['ops']:7} {r['keys']:5} {str(r['valid']):>8} {r['load_check_s']:12.2f} "
                      f"{r['check_s']:8.2f} {r['search_peak_mb']:9.1f} {r['rss_peak_mb']:7.0f}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
