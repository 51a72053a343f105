"""Liveness with deadlines (as OpenRaft's Jepsen suite checks it): a cluster that never loses data
but cannot serve once healed, or holds needless elections, is broken too, and a run that shows
it is invalid *for liveness*: slow, not wrong (`kind: "liveness"` in results.json).

Three checks, all on the history's time axis, with the deadline N (`--liveness-deadline`):

- after the final heal (the last fault record), an update (write, cas, append, add) and a read
  invoked after it succeed within N s; the runner's liveness probe sends the workload's
  operations for up to N s after the heal, until both have succeeded;
- outside fault windows, no stretch longer than N s without a successful update (the time
  inside the window of a fault that cuts off or stops nodes, from its start record to its stop
  record, does not count, nor the final heal, when no client is asked anything). A fault that
  only slows or thins the links (packet delay, latency, reordering, duplication, loss) or moves
  clocks leaves a connected majority that a correct Raft cluster must keep serving: its window
  excuses nothing, nor does a fault that was skipped (it did nothing);
- with pre-vote on (the system says so), while exactly one node that does not lead is cut off
  or stopped, alone, and for `SETTLE_S` after it returns, the other nodes stay in the term and
  with the leader they had when it began (no disruptive elections), from the status monitor.
"""

from __future__ import annotations

from itertools import pairwise

from raft_jepsen.harness.history import Op, pair
from raft_jepsen.harness.history.faults import FAULT_OPS, SKIPPED, outcome
from raft_jepsen.harness.history.roles import NodeStatus, RoleChange

NS = 1_000_000_000
SETTLE_S = 3.0  # after a lone node returns: long enough for a disruptive candidate to show
BEFORE_S = 1.0  # how far before a fault a status poll still says who led when it began
FAULT_STOPS = {stop: start for start, (stop, _) in FAULT_OPS.items()}
# The faults during which a correct cluster may be unable to commit: they cut nodes off or stop
# them (a power cut and lose-unsynced are `power-cut`; a membership change may leave the leader
# without its new quorum until a partition heals). Packet and clock faults are not among them.
EXCUSING = frozenset({"start-partition", "kill", "pause", "power-cut", "start-membership"})


class Liveness:
    def __init__(self, deadline_s: float, *, statuses: list[NodeStatus] | None = None, pre_vote: bool = False,
                 roles: list[RoleChange] | None = None):
        self.deadline_s = deadline_s
        self.statuses = sorted(statuses or [], key=lambda s: s.time)
        self.pre_vote = pre_vote
        self.roles = roles

    def check(self, history: list[Op]) -> dict:
        result = liveness(history, self.deadline_s, self.statuses, self.pre_vote)
        if self.roles is not None:
            result["elections"] = elections(self.roles)
        return result


def elections(roles: list[RoleChange]) -> dict:
    """A figure, not a verdict: the terms in which some node stood as candidate, and those of
    them that no node ever led (split votes, or a candidate cut off). Randomized timeouts keep the
    second small; equal timeouts (`fixed-timeout`) make it grow. On a ~1 ms network each split
    resolves within a round or two, but while every message takes ~100 ms (`packet-latency`) the
    nodes' equal timers stay closer together than that and the split repeats every round: the
    write-gap check sees that outage, since a slow network excuses none."""
    stood = {c.term for c in roles if c.role == "candidate" and c.term is not None}
    led = {c.term for c in roles if c.role == "leader" and c.term is not None}
    split = {c.term for c in roles if c.role == "candidate" and c.term is not None
             and sum(1 for d in roles if d.role == "candidate" and d.term == c.term) > 1}
    return {"terms_stood": len(stood), "terms_without_leader": len(stood - led), "terms_with_rivals": len(split)}


def liveness(history: list[Op], deadline_s: float, statuses: list[NodeStatus], pre_vote: bool) -> dict:
    deadline = int(deadline_s * NS)
    windows = fault_windows(history)
    calls = [c for c in pair(history) if c.invoke.node is None]  # final reads name their node
    failures: list[dict] = []
    result: dict = {"deadline_s": deadline_s, "kind": "liveness"}

    heal = max((op.time for op in history if not op.is_client), default=None)
    if heal is None:
        result["after_heal"] = None  # no fault: nothing healed
    else:
        after = [c for c in calls if c.invoke.time >= heal and c.type == "ok"]
        first_write = min((c.complete.time for c in after if c.invoke.f != "read"), default=None)
        first_read = min((c.complete.time for c in after if c.invoke.f == "read"), default=None)
        result["after_heal"] = {"heal_s": _s(heal), "write_s": _after(first_write, heal), "read_s": _after(first_read, heal)}
        for what, t in (("update", first_write), ("read", first_read)):
            if t is None or t - heal > deadline:
                took = "none succeeded" if t is None else f"the first took {_s(t - heal)} s"
                failures.append({"check": "after-heal", "time_s": _s(heal),
                                 "message": f"no {what} succeeded within {deadline_s:g} s of the final heal at "
                                            f"{_s(heal)} s ({took})"})

    quiet = [w for w in windows if excuses(w[2])]
    if heal is not None:  # between the workload's last invocation and the final heal nobody asks anything
        before = [c.invoke.time for c in calls if c.invoke.time < heal]
        quiet = sorted([*quiet, (max(before, default=heal), heal, None)], key=lambda w: w[0])
    gap = longest_write_gap(calls, quiet)
    result["longest_write_gap"] = gap
    if gap is not None and gap["length_s"] > deadline_s:
        failures.append({"check": "write-gap", "time_s": gap["from_s"],
                         "message": f"no update succeeded for {gap['length_s']} s outside fault windows, from "
                                    f"{gap['from_s']} s to {gap['to_s']} s (more than {deadline_s:g} s)"})

    if pre_vote:
        lone = stable_leader(history, windows, statuses)
        result["lone_faults"] = lone
        failures += [{"check": "disruptive-election", "time_s": w["from_s"], "nodes": w["disrupted_by"],
                      "term": w["term_after"], "message": w["message"]} for w in lone if w.get("message")]
    result["valid"] = not failures
    result["failures"] = failures
    if failures:
        result["message"] = failures[0]["message"] + (f" (+{len(failures) - 1} more)" if len(failures) > 1 else "")
    return result


def fault_windows(history: list[Op]) -> list[tuple[int, int, Op]]:
    """(start, stop, start record) of each fault; one never stopped lasts to the history's end. A
    partition that moves (a second start-partition) starts a new window."""
    end = max((op.time for op in history), default=0)
    open_: dict[str, Op] = {}
    out = []
    for op in history:
        if op.is_client:
            continue
        if op.f in FAULT_OPS:
            if op.f in open_:
                out.append((open_[op.f].time, op.time, open_[op.f]))
            open_[op.f] = op
        elif op.f in FAULT_STOPS and FAULT_STOPS[op.f] in open_:
            start = open_.pop(FAULT_STOPS[op.f])
            out.append((start.time, op.time, start))
    out += [(op.time, end, op) for op in open_.values()]
    return sorted(out, key=lambda w: w[0])


def excuses(record: Op) -> bool:
    """Whether a fault's window may pass without a successful update: one that cut off or stopped
    nodes, and did something (a skipped `kill-leader` when nobody leads hit no one; a skipped move
    of a partition heals the partition before it, `healed_previous`, so nothing is cut)."""
    return record.f in EXCUSING and outcome(record) != SKIPPED


def longest_write_gap(calls, windows) -> dict | None:
    """The longest stretch between successful updates (from the first invocation, to the last)
    with the fault windows taken out."""
    if not calls:
        return None
    start = min(c.invoke.time for c in calls)
    end = max(c.invoke.time for c in calls)
    ok = sorted(c.complete.time for c in calls if c.type == "ok" and c.invoke.f != "read" and c.complete.time <= end)
    edges = [start, *ok, end]
    best = None
    for a, b in pairwise(edges):
        for lo, hi in _outside(a, b, windows):
            if best is None or hi - lo > best[1] - best[0]:
                best = (lo, hi)
    if best is None:
        return {"length_s": 0.0, "from_s": _s(start), "to_s": _s(start)}
    return {"length_s": _s(best[1] - best[0]), "from_s": _s(best[0]), "to_s": _s(best[1])}


def _outside(a: int, b: int, windows) -> list[tuple[int, int]]:
    """The parts of [a, b] that no fault window covers."""
    parts, cursor = [], a
    for lo, hi, _ in windows:
        if hi <= cursor or lo >= b:
            continue
        if lo > cursor:
            parts.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < b:
        parts.append((cursor, b))
    return parts


def lone_node(record: Op) -> str | None:
    """The one node a fault record cuts off or stops, if it is exactly one."""
    value = record.value if isinstance(record.value, dict) else {}
    if record.f == "start-partition":
        grudge = value.get("grudge")
        if not isinstance(grudge, dict):
            return None
        everyone = set(grudge) | {n for v in grudge.values() if isinstance(v, list) for n in v}
        cut = [n for n, v in grudge.items() if isinstance(v, list) and set(v) == everyone - {n} and v]
        others_cut_only_it = all(set(v) <= set(cut) for n, v in grudge.items() if n not in cut and isinstance(v, list))
        return cut[0] if len(cut) == 1 and others_cut_only_it else None
    if record.f in ("kill", "pause"):
        nodes = value.get("nodes")
        return nodes[0] if isinstance(nodes, list) and len(nodes) == 1 and isinstance(nodes[0], str) else None
    return None


def stable_leader(history: list[Op], windows, statuses: list[NodeStatus]) -> list[dict]:
    """For each fault that cut off or stopped one node that did not lead, alone (no other fault
    overlapping it or its settling time): did the others' term or leader change?"""
    out = []
    for i, (lo, hi, record) in enumerate(windows):
        node = lone_node(record)
        if node is None:
            continue
        until = hi + int(SETTLE_S * NS)
        if any(j != i and w[0] < until and w[1] > lo for j, w in enumerate(windows)):
            continue  # another fault overlaps: an election may be its doing
        before = _latest_before(statuses, lo, node)
        leaders = {s.leader for s in before if s.leader}
        terms = {s.term for s in before if s.term is not None}
        if len(leaders) != 1 or len(terms) != 1 or node in leaders:
            continue  # no settled leader when it began, or the lone node led: an election is due
        leader, term = leaders.pop(), terms.pop()
        during = [s for s in statuses if lo <= s.time <= until and s.node != node]
        moved = [s for s in during if (s.term is not None and s.term != term) or (s.leader not in (None, leader))]
        entry = {"node": node, "f": record.f, "from_s": _s(lo), "to_s": _s(hi), "leader": leader, "term": term,
                 "polls": len(during)}
        if moved:
            first = moved[0]
            entry.update(disrupted_by=sorted({node}), term_after=first.term,
                         message=f"with only {node} {_cut(record.f)} ({_s(lo)}-{_s(hi)} s) and pre-vote on, the "
                                 f"others left leader {leader} of term {term}: {first.node} was in term {first.term} "
                                 f"following {first.leader or 'nobody'} at {_s(first.time)} s")
        out.append(entry)
    return out


def _latest_before(statuses: list[NodeStatus], t: int, excluded: str) -> list[NodeStatus]:
    latest: dict[str, NodeStatus] = {}
    for s in statuses:
        if t - int(BEFORE_S * NS) <= s.time <= t and s.node != excluded:
            latest[s.node] = s
    return list(latest.values())


def _cut(f: str) -> str:
    return {"kill": "killed", "pause": "paused"}.get(f, "cut off")


def _after(t: int | None, origin: int) -> float | None:
    return None if t is None else _s(t - origin)


def _s(ns: int) -> float:
    return round(ns / NS, 3)
