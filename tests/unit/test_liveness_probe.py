"""The liveness probe (harness.generator.probe): the workload's ops after the heal until an
update and a read have succeeded, or the deadline passes; on a virtual clock."""

from raft_jepsen.harness.generator.core import Repeatedly
from raft_jepsen.harness.generator.probe import probe
from raft_jepsen.harness.generator.simulate import simulate

NS = 1_000_000_000


def ops():
    return Repeatedly(lambda rng: {"f": rng.choice(["read", "write"]), "key": "k", "value": 1})


def test_the_probe_stops_once_an_update_and_a_read_succeeded():
    history = simulate(probe(ops(), 100, 10), concurrency=2)
    invokes = [op for op in history if op.type == "invoke"]
    assert {op.f for op in history if op.type == "ok"} == {"read", "write"}
    assert len(invokes) < 20 and max(op.time for op in history) < NS


def test_the_probe_gives_up_at_the_deadline_when_nothing_succeeds():
    history = simulate(probe(ops(), 20, 2), concurrency=2, outcome=lambda op: "fail")
    assert not [op for op in history if op.type == "ok"]
    assert 1.5 * NS < max(op.time for op in history) <= 2.1 * NS
