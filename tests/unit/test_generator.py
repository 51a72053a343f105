"""Generators on a virtual clock (harness.generator.simulate): schedules, not timings."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raft_jepsen.harness.generator.core import (
    NS,
    PENDING,
    EachThread,
    Limit,
    Once,
    Repeatedly,
    clients,
    mix,
    phases,
    rate,
    seq,
    time_limit,
    with_nemesis,
)
from raft_jepsen.harness.generator.faults import fault_schedule, final_phase
from raft_jepsen.harness.generator.simulate import simulate
from raft_jepsen.harness.history import pair

READ = {"f": "read", "key": "k", "value": None}
WRITE = {"f": "write", "key": "k", "value": 1}
FAULTS = [({"f": "start-partition"}, {"f": "stop-partition"}), ({"f": "kill"}, {"f": "start"})]


def reads():
    return Repeatedly(lambda rng: READ)


def invokes(history):
    return [op for op in history if op.type == "invoke"]


def workload(seed):
    rng = random.Random(seed)
    ops = Repeatedly(lambda r: {"f": "write", "key": f"k{r.randrange(3)}", "value": r.randrange(5)})
    return time_limit(20, with_nemesis(fault_schedule(FAULTS, 2, rng), rate(50, ops)))


def test_same_seed_same_schedule_and_another_seed_another():
    first = simulate(workload(7), concurrency=4, seed=7)
    assert first == simulate(workload(7), concurrency=4, seed=7)
    assert first != simulate(workload(8), concurrency=4, seed=8)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(0, 40), concurrency=st.integers(1, 6))
def test_limit_gives_exactly_n_invocations_all_completed(n, concurrency):
    history = simulate(clients(Limit(n, reads())), concurrency=concurrency)
    assert len(invokes(history)) == n
    assert all(call.complete is not None for call in pair(history))


@settings(max_examples=20, deadline=None)
@given(seconds=st.floats(0.5, 5), per_second=st.floats(5, 200), seed=st.integers(0, 1000))
def test_time_limit_and_rate_are_respected_in_virtual_time(seconds, per_second, seed):
    history = simulate(clients(time_limit(seconds, rate(per_second, reads()))), concurrency=5, seed=seed)
    times = [op.time for op in invokes(history)]
    assert times and max(times) < seconds * NS
    expected = seconds * per_second
    # stagger draws gaps uniformly in [0, 2/rate): the count is within a few standard deviations
    assert abs(len(times) - expected) <= 4 * expected**0.5 + 2


def test_rate_spaces_invocations_over_all_threads_together():
    history = simulate(clients(time_limit(100, rate(10, reads()))), concurrency=10, seed=1)
    assert 900 <= len(invokes(history)) <= 1100  # 10/s over 100 s, not 10/s per thread


def test_faults_alternate_start_stop_on_a_fixed_timetable():
    history = simulate(workload(3), concurrency=4, seed=3)
    faults = [op for op in history if op.process == "nemesis"]
    assert [op.time // NS for op in faults] == list(range(2, 20, 2))
    assert all(op.type == "info" for op in faults)
    starts, stops = faults[0::2], faults[1::2]
    pairs = dict((start["f"], stop["f"]) for start, stop in FAULTS)
    assert all(pairs[a.f] == b.f for a, b in zip(starts, stops))
    assert {op.f for op in starts} == {"start-partition", "kill"}  # both kinds drawn


@pytest.mark.parametrize("seed", range(8))
def test_every_kind_is_started_once_in_each_round_of_as_many_starts_as_kinds(seed):
    kinds = [({"f": f"start-{k}"}, {"f": f"stop-{k}"}) for k in "abcd"]
    gen = time_limit(100, with_nemesis(fault_schedule(kinds, 1, random.Random(seed)), rate(1, reads())))
    starts = [op.f for op in simulate(gen, concurrency=1, seed=seed) if op.process == "nemesis" and "start" in op.f]
    rounds = [starts[i:i + 4] for i in range(0, len(starts) - 3, 4)]
    assert len(rounds) >= 10 and all(sorted(r) == ["start-a", "start-b", "start-c", "start-d"] for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1  # shuffled, not a fixed rotation


def test_a_fault_that_moves_is_sometimes_replaced_before_its_stop_and_others_never_are():
    rng = random.Random(11)
    ops = Repeatedly(lambda r: READ)
    gen = time_limit(400, with_nemesis(fault_schedule(FAULTS, 2, rng, {"start-partition"}), rate(1, ops)))
    history = [op for op in simulate(gen, concurrency=1, seed=11) if op.process == "nemesis"]
    assert [op.time // NS for op in history] == list(range(2, 400, 2))
    in_force, moved = None, 0
    for op in history:
        if op.f in ("start-partition", "kill"):
            moved += op.f == in_force == "start-partition"
            assert in_force in (None, op.f) and (in_force is None or op.f == "start-partition")
            in_force = op.f
        else:
            assert {"stop-partition": "start-partition", "start": "kill"}[op.f] == in_force
            in_force = None
    partitions = sum(op.f == "start-partition" for op in history)
    assert 0.3 < moved / partitions < 0.7  # about MOVE_CHANCE of the partitions were moved on


def test_client_ops_never_run_on_the_nemesis_thread_and_faults_never_on_clients():
    history = simulate(workload(5), concurrency=3, seed=5)
    assert all((op.process == "nemesis") == (op.f in {"start-partition", "stop-partition", "kill", "start"}) for op in history)


def test_phases_start_only_after_every_op_of_the_previous_phase_completed():
    history = simulate(clients(phases(Limit(7, reads()), Limit(5, Repeatedly(lambda r: WRITE)))), concurrency=3, latency_ns=10)
    last_read_done = max(op.time for op in history if op.f == "read" and op.type == "ok")
    first_write = min(op.time for op in history if op.f == "write")
    assert first_write >= last_read_done
    assert [op.f for op in invokes(history)] == ["read"] * 7 + ["write"] * 5


def test_each_thread_gives_every_client_thread_its_own_copy():
    history = simulate(clients(EachThread(Limit(2, reads()))), concurrency=4)
    by_process = {}
    for op in invokes(history):
        by_process[op.process] = by_process.get(op.process, 0) + 1
    assert by_process == {0: 2, 1: 2, 2: 2, 3: 2}  # and none on the nemesis thread


def test_mix_draws_from_every_source_until_all_are_exhausted():
    history = simulate(clients(mix(Limit(30, reads()), Limit(20, Repeatedly(lambda r: WRITE)))), concurrency=2, seed=4)
    fs = [op.f for op in invokes(history)]
    assert fs.count("read") == 30 and fs.count("write") == 20
    assert fs != sorted(fs)  # interleaved, not one after the other


def test_info_retires_the_process_and_its_thread_carries_on_as_a_new_one():
    history = simulate(clients(Limit(6, reads())), concurrency=2, outcome=lambda op: "info")
    processes = [op.process for op in invokes(history)]
    assert len(set(processes)) == 6  # never reused
    assert {p % 2 for p in processes} == {0, 1}  # process + concurrency: the same two threads
    pair(history)  # well formed


def test_final_phase_heals_waits_then_reads_through_every_node():
    reads_ = seq(*(Once({"f": "read", "key": "k", "node": n}) for n in ("n1", "n2", "n3")))
    gen = phases(clients(Limit(3, reads())), final_phase([{"f": "stop-partition"}, {"f": "start"}], 2.0, reads_))
    history = simulate(gen, concurrency=2, latency_ns=1000)
    heals = [op for op in history if op.process == "nemesis"]
    finals = [op for op in invokes(history) if op.node]
    assert [op.f for op in heals] == ["stop-partition", "start"]
    assert [op.node for op in finals] == ["n1", "n2", "n3"]
    assert min(op.time for op in finals) >= max(op.time for op in heals) + 2 * NS


def test_a_generator_that_waits_on_nothing_is_reported_not_spun_forever():
    class Stuck:
        def op(self, ctx):
            return PENDING

        def update(self, ctx, event):
            return self

    with pytest.raises(RuntimeError, match="pending"):
        simulate(Stuck())


def per_process(history):
    ops = {}
    for op in invokes(history):
        if op.is_client:
            ops.setdefault(op.process, []).append((op.f, op.key, op.value))
    return ops


@pytest.mark.parametrize("workload_name", ["register", "kv", "append", "set"])
def test_a_replay_gives_every_process_the_same_operations_whatever_the_timing(workload_name):
    """DESIGN.md's replay: random draws are made per operation handed out, never per ask, so a
    different latency (more or fewer asks, other threads free at each moment) changes when an op
    runs, not which ops each process runs."""
    from raft_jepsen.harness import spec as specs
    from raft_jepsen.workloads import get

    spec = specs.build({"workload": workload_name, "concurrency": 8, "seed": 5, "nemesis": "none"})

    def run(latency_ms, limit):
        gen = with_nemesis(fault_schedule(FAULTS, 2, random.Random(5)), rate(200, get(workload_name).generator(spec)))
        return simulate(time_limit(limit, gen), concurrency=8, seed=5, latency_ns=latency_ms * 1_000_000)

    fast, slow = per_process(run(1, 10)), per_process(run(37, 30))
    assert set(fast) == set(slow) and len(fast) == 8
    for process, ops in fast.items():
        common = min(len(ops), len(slow[process]))
        assert common > 20
        assert ops[:common] == slow[process][:common]
    fast_faults = [op.f for op in run(1, 10) if not op.is_client]
    assert fast_faults == [op.f for op in run(37, 30) if not op.is_client][:len(fast_faults)]
