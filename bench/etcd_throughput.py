"""Operations per second recorded against a 5-member etcd cluster, next to what the harness alone
records at the same concurrency: is the cluster the limit, or the harness?

For each concurrency (10, 50 and 200 clients by default), two runs of the register workload with
no faults and an unreachable rate (100,000 ops/s), each `--seconds` long:

- `harness alone`: the whole run pipeline (generator, interpreter, history writer, checkers) on the
  in-memory backend (`harness.fakes`: an atom database, no network), so its figure is the ceiling
  of the harness itself at that concurrency;
- `etcd`: `--system etcd`, `--nodes` members in Docker, clients through etcd's JSON gateway.

Printed per row: completed operations per second in the workload phase (final reads excluded),
of which ok, and p50 / p99 latency (invocation to completion) of the completed ones.

    python3 bench/etcd_throughput.py [--seconds 20] [--nodes 5] [--clients 10,50,200] [--no-etcd]

Measure under the shared lock: `python3 bench/etcd_throughput.py`.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from raft_jepsen.harness import fakes, runner
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.generator.core import NS
from raft_jepsen.harness.history import pair, read_jsonl


def measure(result: runner.RunResult, seconds: float) -> dict:
    """Completed client ops of the workload phase: per second, ok per second, latency quantiles."""
    calls = [c for c in pair(read_jsonl(result.run_dir / "history.jsonl"))
             if c.complete is not None and c.invoke.node is None and c.complete.time <= seconds * NS]
    latencies = sorted((c.complete.time - c.invoke.time) / 1e6 for c in calls)
    ok = sum(c.complete.type == "ok" for c in calls)

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"ops_s": len(calls) / seconds, "ok_s": ok / seconds, "p50_ms": quantile(0.5), "p99_ms": quantile(0.99),
            "valid": result.valid}


def run_one(options: dict, backend=None) -> runner.RunResult:
    spec = specs.build(options)
    return runner.run(spec, backend=backend) if backend is not None else runner.run(spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run's workload phase")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", default="10,50,200", help="comma-separated concurrencies")
    parser.add_argument("--no-etcd", action="store_true", help="only the harness-alone rows")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.clients.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = {"time-limit": args.seconds, "rate": 100_000, "recovery-time": 0, "nemesis": "none", "seed": 1,
                "workload": "register", "store": str(Path(tmp) / "store")}
        for clients in concurrencies:
            alone = run_one({**base, "nodes": 3, "concurrency": clients}, backend=fakes.backend(fakes.AtomDB()))
            rows.append(("harness alone", clients, measure(alone, args.seconds)))
            print(_row(*rows[-1]), flush=True)
            if not args.no_etcd:
                etcd = run_one({**base, "system": "etcd", "nodes": args.nodes, "concurrency": clients})
                rows.append((f"etcd, {args.nodes} members", clients, measure(etcd, args.seconds)))
                print(_row(*rows[-1]), flush=True)
    print()
    print(f"{'what':<18} {'clients':>7} {'ops/s':>8} {'ok/s':>8} {'p50 ms':>8} {'p99 ms':>8}  verdict")
    for row in rows:
        print(_row(*row))


def _row(what: str, clients: int, m: dict) -> str:
    return (f"{what:<18} {clients:>7} {m['ops_s']:>8,.0f} {m['ok_s']:>8,.0f} {m['p50_ms']:>8.1f} {m['p99_ms']:>8.1f}  "
            f"{m['valid']}")


if __name__ == "__main__":
    main()
