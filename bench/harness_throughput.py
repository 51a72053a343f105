"""The harness's own figures: how fast a cluster is ready, how many operations one control
process records, how soon a scheduled fault is in effect.

1. generator: the register workload scheduled on a virtual clock (simulate), no I/O at all;
2. interpreter: real worker threads and history.jsonl, against the in-memory atom-db (so the
   figure is the harness's own ceiling, not a cluster's);
3. unless --no-docker: short `run`s against a raftkv cluster (the image is built if missing):
   seconds from the start of a run to a healthy cluster, ops/s recorded with 10 and 50 clients
   at an unreachable rate and no faults, then a run with faults giving how late each kind came
   into effect (verified) after its scheduled time (the timetable is fixed: interval, 2*interval...).

    python3 bench/harness_throughput.py [--seconds 10] [--no-docker] [--nodes 5]

(Not bench/harness.py: a script of that name would be what `import harness` finds first, from
every script in bench/, since Python puts the script's folder at the front of sys.path.)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from raft_jepsen.harness import fakes, runner
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.generator.core import NS, Limit, clients
from raft_jepsen.harness.generator.simulate import simulate
from raft_jepsen.harness.history import HistoryWriter, read_jsonl
from raft_jepsen.harness.interpreter import Interpreter
from raft_jepsen.harness.nemesis.base import NoopNemesis
from raft_jepsen.workloads import register


def bench_generator(ops: int) -> None:
    spec = specs.build({"concurrency": 10})
    gen = clients(Limit(ops, register.generator(spec)))
    began = time.perf_counter()
    history = simulate(gen, concurrency=10, seed=1)
    elapsed = time.perf_counter() - began
    print(f"generator   {ops} register ops scheduled in {elapsed:.2f} s: {ops / elapsed:,.0f} ops/s ({len(history)} records)")


def bench_interpreter(seconds: float, concurrency: int, directory: Path) -> None:
    db = fakes.AtomDB()
    system = fakes.AtomSystem(db)
    spec = specs.build({"concurrency": concurrency})
    path = directory / f"history-{concurrency}.jsonl"
    stop = threading.Event()
    t0 = time.monotonic_ns()

    def open_client(node):
        client = system.client(node)
        client.open(node)
        return client

    with HistoryWriter(path) as writer:
        interpreter = Interpreter(
            nodes=fakes.nodes(3),
            open_client=open_client,
            nemesis=NoopNemesis(),
            writer=writer,
            concurrency=concurrency,
            seed=1,
            clock=lambda: time.monotonic_ns() - t0,
            stop=stop,
        )
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        try:
            interpreter.run(clients(register.generator(spec)))
        finally:
            interpreter.close()
    elapsed = (time.monotonic_ns() - t0) / NS
    completed = sum(1 for op in read_jsonl(path) if op.type != "invoke")
    print(f"interpreter concurrency {concurrency:3d}: {completed / elapsed:,.0f} ops/s recorded ({completed} ops in {elapsed:.1f} s)")


def bench_docker(seconds: float, nodes: int, directory: Path) -> None:
    """Against a real raftkv cluster (the image already built): seconds from the start of the
    run to a healthy cluster (containers, nodes started, a leader, every node answering), then
    completed client ops per second recorded during the workload phase, at an unreachable rate."""
    base = {"nodes": nodes, "time-limit": seconds, "rate": 100_000, "recovery-time": 1, "seed": 1, "store": str(directory)}
    for concurrency in (10, 50):
        marks: dict[str, float] = {}
        began = time.monotonic()

        def progress(line: str) -> None:
            if line.startswith("running "):  # printed once the health check passed
                marks.setdefault("healthy", time.monotonic() - began)

        result = runner.run(specs.build({**base, "nemesis": "none", "concurrency": concurrency}), progress=progress)
        in_phase = [op for op in read_jsonl(result.run_dir / "history.jsonl")
                    if op.is_client and op.type != "invoke" and op.time <= seconds * NS]
        ok = sum(op.type == "ok" for op in in_phase)
        print(f"raftkv      {nodes} nodes, {concurrency} clients: healthy after {marks.get('healthy', float('nan')):.1f} s; "
              f"{len(in_phase) / seconds:,.0f} ops/s recorded ({ok / seconds:,.0f} ok/s; verdict {result.valid})")
    interval, seconds = 2.0, 3 * seconds  # about 5 faults of each kind
    result = runner.run(specs.build({**base, "time-limit": seconds, "nemesis": "partition,kill,pause",
                                     "nemesis-interval": interval, "rate": 100}))
    faults = [op for op in read_jsonl(result.run_dir / "history.jsonl") if op.process == "nemesis"]
    scheduled = [op for op in faults if op.time < seconds * NS]  # the final heals are not on the timetable
    late_ms: dict[str, list[float]] = {}
    for i, op in enumerate(scheduled):
        late_ms.setdefault(op.f, []).append((op.time - (i + 1) * interval * NS) / 1e6)
    for f, lates in late_ms.items():
        print(f"faults      {f:<15} scheduled → verified in effect: median {statistics.median(lates):.0f} ms, "
              f"max {max(lates):.0f} ms ({len(lates)} ops)")
    print(f"            (verdict of the run with faults: {result.valid})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    parser.add_argument("--no-docker", action="store_true", help="only the harness's own ceiling, no cluster")
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    bench_generator(20_000)
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in (1, 10, 50, 200):
            bench_interpreter(args.seconds, concurrency, Path(tmp))
        if not args.no_docker:
            bench_docker(max(args.seconds, 10.0), args.nodes, Path(tmp))


if __name__ == "__main__":
    main()
