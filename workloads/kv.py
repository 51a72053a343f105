"""The kv workload: read / write / cas on a fixed small keyspace for the whole run.

Unlike `register`, keys never retire: each key's history spans every fault of the run, which
catches anomalies that need a long history (a lost write noticed many faults later), at the
price of a harder linearizability search. Checked with the multi-key `kv` model."""

from __future__ import annotations

from raft_jepsen.checkers import availability
from raft_jepsen.harness.generator.core import Generator, Repeatedly
from raft_jepsen.workloads import registers

MODEL = "kv"
CLIENT_RETRIES = 0  # an unknown write stays unknown: the history is what a bare client sees
KEYS = tuple(f"k{i}" for i in range(1, 6))


def generator(spec) -> Generator:
    return Repeatedly(lambda r: registers.random_op(r, r.choice(KEYS)))


def final_reads(spec, nodes: list[str], keys: list) -> Generator:
    return registers.final_reads(nodes, KEYS)


def checkers(spec) -> dict:
    return {**registers.linearizable_checker(MODEL), "availability": availability.for_spec(spec)}
