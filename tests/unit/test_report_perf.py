"""Perf figures, fault intervals and leadership, from small hand-made histories."""

from raft_jepsen.harness.history import Op, pair
from raft_jepsen.harness.history.roles import RoleChange
from raft_jepsen.reports.perf import LATENCY_BINS, RAW_POINTS, perf
from raft_jepsen.reports.timeline import faults, leader_changes

MS = 1_000_000


def _call(process, f, start_ms, end_ms, type="ok", index=0):
    inv = Op(index=index, type="invoke", process=process, f=f, key="k", time=start_ms * MS)
    return [inv, Op(index=index + 1, type=type, process=process, f=f, key="k", time=end_ms * MS)]


def _nemesis(f, at_ms, index=0):
    return Op(index=index, type="info", process="nemesis", f=f, value={"nodes": ["n1"]}, time=at_ms * MS)


def test_percentiles_are_nearest_rank_over_ok_ops_per_f():
    history = []
    for i, lat in enumerate(range(1, 101)):  # reads of 1..100 ms
        history += _call(i, "read", 0, lat)
    history += _call(200, "read", 0, 5000, type="fail")  # failures do not count
    history += _call(201, "write", 0, 7)
    rows = {r["f"]: r for r in perf(pair(history), [], 5000 * MS).percentiles}
    assert rows["read"] == {"f": "read", "count": 100, "p50": 50 * MS, "p90": 90 * MS, "p99": 99 * MS, "max": 100 * MS}
    assert rows["write"]["count"] == 1 and rows["write"]["max"] == 7 * MS


def test_longest_gap_includes_the_start_and_the_end_of_the_run():
    history = _call(1, "read", 0, 100) + _call(1, "read", 100, 300, type="fail") + _call(1, "read", 300, 1000)
    assert perf(pair(history), [], 1200 * MS).longest_gap == (100 * MS, 1000 * MS)
    assert perf(pair(history), [], 3000 * MS).longest_gap == (1000 * MS, 3000 * MS)


def test_failover_counts_from_the_fault_to_an_op_invoked_after_it():
    history = [_nemesis("kill", 500)]
    history += _call(1, "read", 400, 520)  # in flight at the kill: proves nothing
    history += _call(2, "read", 510, 700, type="fail")
    history += _call(3, "read", 600, 900)  # the first op after the kill to succeed
    history += [_nemesis("start", 950)]
    history += [_nemesis("start-partition", 1000)]  # never followed by an ok op
    result = perf(pair(history), faults(history), 1100 * MS)
    assert [(f.f, t) for f, t in result.failovers] == [("kill", 400 * MS), ("start-partition", None)]


def test_throughput_counts_every_completion_once():
    history = []
    for i in range(50):
        history += _call(i, "write", i * 10, i * 10 + 5, type=("ok", "fail", "info")[i % 3])
    result = perf(pair(history), [], 500 * MS)
    total = sum(v * result.throughput_bin_s for series in result.throughput.values() for v in series)
    assert round(total) == 50


def test_binning_keeps_the_extremes():
    history = []
    for i in range(RAW_POINTS + 1):
        history += _call(i, "read", i, i + 1 + (i % 7))
    history += _call(10**6, "read", 5, 60_000)  # one slow outlier
    result = perf(pair(history), [], 70_000 * MS)
    assert result.binned and len(result.points) <= 2 * LATENCY_BINS  # one f, one outcome: two a bin
    assert max(p.latency for p in result.points) == (60_000 - 5) * MS
    assert min(p.latency for p in result.points) == 1 * MS
    assert result.completed == RAW_POINTS + 2


def test_faults_pair_start_and_stop_and_keep_the_unhealed():
    history = [_nemesis("start-partition", 1, 0), _nemesis("kill", 2, 1), _nemesis("stop-partition", 3, 2),
               _nemesis("start", 4, 3), _nemesis("pause", 5, 4), _nemesis("start-clock-skew", 6, 5),
               _nemesis("stop-clock-skew", 7, 6)]
    found = [(f.kind, f.start // MS, f.stop // MS if f.stop is not None else None) for f in faults(history)]
    assert found == [("partition", 1, 3), ("kill", 2, 4), ("pause", 5, None), ("clock-skew", 6, 7)]


def test_a_partition_that_moves_ends_one_band_where_the_next_begins():
    history = [_nemesis("start-partition", 1, 0), _nemesis("start-partition", 4, 1), _nemesis("stop-partition", 6, 2)]
    found = [(f.kind, f.start // MS, f.stop // MS) for f in faults(history)]
    assert found == [("partition", 1, 4), ("partition", 4, 6)]


def test_leader_changes_fold_repeats_of_the_same_election():
    events = [RoleChange(0, "n1", "leader", 1, "n1"), RoleChange(0, "n2", "follower", 1, "n1"),
              RoleChange(5, "n1", "leader", 1, "n1"), RoleChange(9, "n3", "leader", 2, "n3"),
              RoleChange(9, "n3", "follower")]
    assert [(c.leader, c.term) for c in leader_changes(events)] == [("n1", 1), ("n3", 2)]
