"""The availability checker: how long clients went without a successful operation.

Not a safety property: a Raft cluster may refuse service during an election, and faults cause
elections. But a cluster that stays unavailable far longer than an election takes (split votes
from a constant election timeout, a leader that never steps down) is broken all the same, and
only the history's timing shows it. Computed from the history alone, over the main phase: from
the first client invocation to the last invocation that names no node (the final reads, which
name their node, come after healing and a recovery wait: a pause there is by design).

- windows: the gaps between consecutive ok completions (and from the phase's start to the first,
  and from the last to the phase's end); the run is invalid when one exceeds `window_s`;
- failover: after each fault starts (`kill`, `start-partition`, `pause` records), the time until
  an operation invoked after it succeeds (one already in flight proves nothing about failover);
- ok seconds: the share of the phase's whole seconds holding at least one ok completion.
"""

from __future__ import annotations

import bisect
import math
import statistics

from raft_jepsen.harness.history import Call, Op, pair
from raft_jepsen.harness.history.faults import FAILED, FAULT_OPS, SKIPPED, outcome

DEFAULT_WINDOW_S = 10.0
FAULT_STARTS = tuple(FAULT_OPS)
NS = 1_000_000_000


class Availability:
    def __init__(self, window_s: float = DEFAULT_WINDOW_S):
        self.window_s = window_s

    def check(self, history: list[Op]) -> dict:
        return availability(history, self.window_s)


def for_spec(spec) -> Availability:
    """The checker with the spec's `availability_window` (`--availability-window`)."""
    return Availability(spec.availability_window)


def availability(history: list[Op], window_s: float = DEFAULT_WINDOW_S) -> dict:
    main = [c for c in pair(history) if c.invoke.node is None]
    if not main:
        return {"valid": "unknown", "error": "no client operation before the final reads"}
    start = min(c.invoke.time for c in main)
    end = max(c.invoke.time for c in main)
    ok_times = sorted(c.complete.time for c in main if c.type == "ok" and c.complete.time <= end)
    edges = [start, *ok_times, end]
    gaps = list(zip(edges, edges[1:]))
    longest = max(gaps, key=lambda g: g[1] - g[0])
    too_long = [g for g in gaps if g[1] - g[0] > window_s * NS]
    # A fault skipped or failed never happened: no failover to measure after it.
    faults = [op for op in history if not op.is_client and op.f in FAULT_STARTS and start <= op.time <= end
              and outcome(op) not in (SKIPPED, FAILED)]
    failovers = _failovers(main, faults)
    measured = [f["failover_s"] for f in failovers if f["failover_s"] is not None]
    result = {
        "valid": not too_long,
        "window_s": window_s,
        "longest_window_s": _s(longest[1] - longest[0]),
        "longest_window": {"from_s": _s(longest[0]), "to_s": _s(longest[1])},
        "windows": [{"from_s": _s(a), "to_s": _s(b), "length_s": _s(b - a)} for a, b in too_long],
        "failovers": failovers,
        "max_failover_s": max(measured, default=None),
        "median_failover_s": round(statistics.median(measured), 3) if measured else None,
        "ok_seconds_share": _ok_seconds_share(ok_times, start, end),
    }
    if too_long:
        a, b = max(too_long, key=lambda g: g[1] - g[0])
        more = f" ({len(too_long) - 1} more such windows)" if len(too_long) > 1 else ""
        result["message"] = (f"no operation succeeded for {(b - a) / NS:.1f} s, from {a / NS:.1f} s to "
                             f"{b / NS:.1f} s (more than {window_s:g} s){more}")
    return result


def recovery_times(calls: list[Call], starts: list[int]) -> list[int | None]:
    """For each time in `starts`: ns until the first ok completion of an op invoked at or after
    it (ops already in flight when a fault began do not count), or None if none ever completes."""
    ok = sorted((c.invoke.time, c.complete.time) for c in calls if c.type == "ok")
    invoked = [i for i, _ in ok]
    # earliest[i]: the first ok completion among the ops invoked at or after invoked[i]
    earliest = [done for _, done in ok]
    for i in range(len(earliest) - 2, -1, -1):
        earliest[i] = min(earliest[i], earliest[i + 1])
    out: list[int | None] = []
    for start in starts:
        i = bisect.bisect_left(invoked, start)
        out.append(earliest[i] - start if i < len(ok) else None)
    return out


def _failovers(calls: list[Call], faults: list[Op]) -> list[dict]:
    took = recovery_times(calls, [fault.time for fault in faults])
    return [{"index": fault.index, "f": fault.f, "time_s": _s(fault.time),
             "failover_s": None if t is None else _s(t)} for fault, t in zip(faults, took)]


def _ok_seconds_share(ok_times: list[int], start: int, end: int) -> float:
    seconds = max(1, math.ceil((end - start) / NS))
    busy = {min(seconds - 1, (t - start) // NS) for t in ok_times}
    return round(len(busy) / seconds, 3)


def _s(ns: int) -> float:
    return round(ns / NS, 3)
