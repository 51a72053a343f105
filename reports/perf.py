"""Latency, throughput and availability of the client operations (Jepsen's perf checker, for a page).

All figures are computed from the paired history, so they describe what clients saw:
- latency points (invoke time, latency) coloured by outcome; above `RAW_POINTS` points they are
  binned in time, keeping the fastest and the slowest op of every (bin, f, outcome), which keeps
  the envelope and every outlier a person would look for;
- throughput: completions per second in ~100 time bins, per outcome;
- percentiles of ok latencies per f (nearest rank);
- availability: the longest window without an ok completion, and after each fault start the time
  until an op invoked after it succeeds (an op already in flight proves nothing about failover).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raft_jepsen.checkers.availability import recovery_times
from raft_jepsen.harness.history import Call
from raft_jepsen.reports.timeline import Fault

RAW_POINTS = 10_000
LATENCY_BINS = 1_000
THROUGHPUT_BINS = 100
OUTCOMES = ("ok", "fail", "info")
FAILOVER_KINDS = ("partition", "kill", "pause")


@dataclass(frozen=True, slots=True)
class Point:
    time: int  # invoke, ns
    latency: int  # ns
    f: str
    type: str


@dataclass(frozen=True, slots=True)
class Perf:
    points: list[Point]
    completed: int  # calls with a completion (= points before binning)
    binned: bool
    throughput_bin_s: float
    throughput: dict[str, list[float]]  # outcome -> ops/s per bin
    percentiles: list[dict]  # one row per f: f, count, p50, p90, p99, max (ns)
    longest_gap: tuple[int, int]  # ns: (start, end) of the longest window without an ok
    failovers: list[tuple[Fault, int | None]]  # ns until an op invoked after the fault succeeded


def perf(calls: list[Call], faults: list[Fault], duration: int) -> Perf:
    done = [c for c in calls if c.complete is not None]
    points = [Point(c.invoke.time, c.complete.time - c.invoke.time, c.invoke.f, c.type) for c in done]
    binned = len(points) > RAW_POINTS
    if binned:
        points = _envelope(points, duration)
    bin_s = _nice(duration / 1e9 / THROUGHPUT_BINS)
    return Perf(
        points=points,
        completed=len(done),
        binned=binned,
        throughput_bin_s=bin_s,
        throughput=_throughput(done, bin_s, duration),
        percentiles=_percentiles(done),
        longest_gap=_longest_gap(done, duration),
        failovers=_failovers(done, [f for f in faults if f.kind in FAILOVER_KINDS and f.outcome not in ("skipped", "failed")]),
    )


def _envelope(points: list[Point], duration: int) -> list[Point]:
    extremes: dict[tuple[int, str, str], tuple[Point, Point]] = {}
    width = max(1, duration) / LATENCY_BINS
    for p in points:
        k = (int(p.time / width), p.f, p.type)
        lo, hi = extremes.get(k, (p, p))
        extremes[k] = (p if p.latency < lo.latency else lo, p if p.latency > hi.latency else hi)
    return sorted({p for pair in extremes.values() for p in pair}, key=lambda p: (p.time, p.latency))


def _throughput(done: list[Call], bin_s: float, duration: int) -> dict[str, list[float]]:
    n = max(1, math.ceil(duration / 1e9 / bin_s))
    series = {t: [0.0] * n for t in OUTCOMES}
    for c in done:
        i = min(n - 1, int(c.complete.time / 1e9 / bin_s))
        series[c.type][i] += 1 / bin_s
    return series


def _percentiles(done: list[Call]) -> list[dict]:
    by_f: dict[str, list[int]] = {}
    for c in done:
        if c.type == "ok":
            by_f.setdefault(c.invoke.f, []).append(c.complete.time - c.invoke.time)
    rows = []
    for f in sorted(by_f):
        lat = sorted(by_f[f])
        rows.append({"f": f, "count": len(lat), "p50": _rank(lat, 0.5), "p90": _rank(lat, 0.9),
                     "p99": _rank(lat, 0.99), "max": lat[-1]})
    return rows


def _rank(sorted_values: list[int], q: float) -> int:
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def _longest_gap(done: list[Call], duration: int) -> tuple[int, int]:
    ok_times = sorted(c.complete.time for c in done if c.type == "ok")
    edges = [0, *ok_times, max(duration, ok_times[-1] if ok_times else 0)]
    return max(zip(edges, edges[1:]), key=lambda gap: gap[1] - gap[0])


def _failovers(done: list[Call], faults: list[Fault]) -> list[tuple[Fault, int | None]]:
    return list(zip(faults, recovery_times(done, [f.start for f in faults])))


def _nice(seconds: float) -> float:
    """The smallest of 1, 2, 5 × 10^k seconds at least `seconds` (a bin width a person can read)."""
    if seconds <= 0:
        return 1.0
    exp = math.floor(math.log10(seconds))
    for m in (1, 2, 5, 10):
        if m * 10**exp >= seconds:
            return float(m * 10**exp)
    return float(10 ** (exp + 1))
