"""Raft's safety invariants, from what the nodes said of themselves, not from what clients saw.

A client history only shows an anomaly when some client happened to read the damaged key; the
nodes' own reports show a broken protocol at once. The inputs, on the history's time axis:
role changes from the node logs (`roles.jsonl`, `HasRoleLog`), the status monitor's polls
(`status.jsonl`, `HasStatus`: role, term, leader, commit index and the term of the entry there,
last log index, when the process started) and the state digests read once healed (`HasDigests`).
Each invariant below is checked on whatever of these a system gives, and each violation names
the invariant, the nodes, the term and the time:

- one-leader-per-term (Election Safety): no two nodes lead in the same term. Evidence: a node
  saying it leads term T (log or status), or a node following a leader in term T (a follower's
  `leader` at its term: a node that accepted a leader of an older term names it under its own
  newer term, which is how `accept-stale-term` shows);
- term-backwards: a node's current term never decreases, across restarts too (Raft persists it
  before answering any RPC); for a node a membership change named (removed and added back, a
  fresh machine with its data wiped), within one process only;
- commit-backwards: while one process of a node lives (same `started`), its commit index never
  decreases. Across a restart it may (raftkv does not persist its commit index: it starts again
  from its snapshot's), so a restart is not compared;
- committed-entry-replaced (State Machine Safety, observable form): every `(commit_index,
  commit_term)` any node reported must fit one log: the same index always with the same term, and
  terms never falling as indexes rise (entries' terms are non-decreasing along a Raft log); and
  where nodes report their whole committed prefix (`commit_terms`, the term of each run of
  entries), every index two nodes hold committed has the same term on both;
- leader-incomplete (Leader Completeness, by length): a leader of term T must hold every entry
  committed in an earlier term: its last index is at least any commit index a node reported while
  at a term below T;
- divergent-state: nodes at the same applied point hold the same state (`checkers.state`).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping

from raft_jepsen.checkers.state import StateAgreement
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.roles import Digest, NodeStatus, RoleChange

NS = 1_000_000_000
INVARIANTS = ("one-leader-per-term", "term-backwards", "commit-backwards", "committed-entry-replaced",
              "leader-incomplete", "divergent-state")
MAX_PER_INVARIANT = 20  # a broken run repeats itself: the first ones say it all


class RaftInvariants:
    def __init__(self, *, roles: Iterable[RoleChange] = (), statuses: Iterable[NodeStatus] = (),
                 digests: Mapping[str, Digest | None] | None = None):
        self.roles = sorted(roles, key=lambda c: c.time)
        self.statuses = sorted(statuses, key=lambda s: s.time)
        self.digests = digests

    def check(self, history: list[Op]) -> dict:
        return raft_invariants(self.roles, self.statuses, self.digests, wiped=wiped(history))


def wiped(history: list[Op]) -> set[str]:
    """The nodes a fault named in a membership change: a node removed and added back is a fresh
    machine, its data wiped, so its term starts again from 0 after a restart."""
    return {name for op in history if not op.is_client and "membership" in op.f for name in _strings(op.value)}


def _strings(v: object) -> set[str]:
    if isinstance(v, str):
        return {v}
    if isinstance(v, dict):
        return set().union(*(_strings(x) for x in v.values()), set())
    if isinstance(v, list):
        return set().union(*(_strings(x) for x in v), set())
    return set()


def raft_invariants(roles: list[RoleChange], statuses: list[NodeStatus],
                    digests: Mapping[str, Digest | None] | None, wiped: set[str] | None = None) -> dict:
    if not roles and not statuses and digests is None:
        return {"valid": "unknown", "error": "the nodes said nothing of themselves (no role changes, status or digests)"}
    failures = [*_one_leader_per_term(roles, statuses), *_term_backwards(statuses, wiped or set()), *_commit_backwards(statuses),
                *_committed_entry_replaced(statuses), *_committed_logs_differ(statuses),
                *_leader_incomplete(statuses)]
    state = StateAgreement(digests).check([]) if digests is not None else None
    if state is not None:
        failures += [{"invariant": "divergent-state", "nodes": sorted(n for ns in f["groups"].values() for n in ns),
                      "term": None, "time_s": None, "at": f["at"], "message": f["message"]} for f in state["failures"]]
    kept: list[dict] = []
    counts: dict[str, int] = defaultdict(int)
    for f in sorted(failures, key=lambda f: (INVARIANTS.index(f["invariant"]), f["time_s"] or 0)):
        counts[f["invariant"]] += 1
        if counts[f["invariant"]] <= MAX_PER_INVARIANT:
            kept.append({**f, "message": f"{f['invariant']}: {f['message']}"})
    result: dict = {
        "valid": not failures,
        "checked": {"role_changes": len(roles), "status_polls": len(statuses),
                    "terms": len({t for t in [*(c.term for c in roles), *(s.term for s in statuses)] if t is not None}),
                    "digests": None if digests is None else sum(d is not None for d in digests.values())},
        "violations": dict(counts),
        "failures": kept,
    }
    if state is not None:
        result["state"] = state
    if failures:
        first = kept[0]
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        result["message"] = f"{first['message']}{more}"
    return result


def _one_leader_per_term(roles: list[RoleChange], statuses: list[NodeStatus]) -> list[dict]:
    """Every claim "L leads term T" (by L itself, or by a follower at term T naming L), in time
    order; a second leader for a term is a violation, reported once per term."""
    claims: list[tuple[int, int, str, str]] = []  # (time, term, leader, who said so)
    for c in roles:
        if c.term is not None and c.role == "leader":
            claims.append((c.time, c.term, c.node, c.node))
        elif c.term is not None and c.role == "follower" and c.leader is not None:
            claims.append((c.time, c.term, c.leader, c.node))
    for s in statuses:
        if s.term is not None and s.role == "leader":
            claims.append((s.time, s.term, s.node, s.node))
        elif s.term is not None and s.role == "follower" and s.leader is not None:
            claims.append((s.time, s.term, s.leader, s.node))
    first: dict[int, tuple[int, str, str]] = {}
    reported: set[int] = set()
    out = []
    for time, term, leader, by in sorted(claims):
        if term not in first:
            first[term] = (time, leader, by)
            continue
        t0, other, other_by = first[term]
        if leader != other and term not in reported:
            reported.add(term)
            out.append({"invariant": "one-leader-per-term", "nodes": sorted({leader, other}), "term": term,
                        "time_s": _s(time),
                        "message": f"two leaders in term {term}: {other} ({_said(other, other_by)} at {_s(t0)} s) "
                                   f"and {leader} ({_said(leader, by)} at {_s(time)} s)"})
    return out


def _said(leader: str, by: str) -> str:
    return "it said so" if leader == by else f"{by} followed it"


def _term_backwards(statuses: list[NodeStatus], wiped: set[str]) -> list[dict]:
    out = []
    highest: dict[str, tuple[int, int, int | None]] = {}  # node -> (term, time, started)
    for s in statuses:
        if s.term is None:
            continue
        prev = highest.get(s.node)
        if prev is not None and s.node in wiped and prev[2] != s.started:
            prev = None  # maybe a fresh machine since (the change's record may come later): no comparison
        if prev is not None and s.term < prev[0]:
            out.append({"invariant": "term-backwards", "nodes": [s.node], "term": s.term, "time_s": _s(s.time),
                        "message": f"{s.node}'s term went back from {prev[0]} (at {_s(prev[1])} s) to {s.term} "
                                   f"at {_s(s.time)} s{_restart(statuses, s.node, prev[1], s.time)}"})
        if prev is None or s.term >= prev[0]:
            highest[s.node] = (s.term, s.time, s.started)
    return out


def _restart(statuses: list[NodeStatus], node: str, a: int, b: int) -> str:
    starts = {s.started for s in statuses if s.node == node and a <= s.time <= b and s.started is not None}
    return ", across a restart" if len(starts) > 1 else ""


def _commit_backwards(statuses: list[NodeStatus]) -> list[dict]:
    out = []
    highest: dict[tuple[str, int | None], tuple[int, int, int | None]] = {}  # (node, started) -> (commit, time, term)
    for s in statuses:
        if s.commit_index is None:
            continue
        life = (s.node, s.started)
        prev = highest.get(life)
        if prev is not None and s.commit_index < prev[0]:
            out.append({"invariant": "commit-backwards", "nodes": [s.node], "term": s.term, "time_s": _s(s.time),
                        "message": f"{s.node}'s commit index went back from {prev[0]} (at {_s(prev[1])} s) to "
                                   f"{s.commit_index} at {_s(s.time)} s in term {s.term}, with no restart between"})
        if prev is None or s.commit_index >= prev[0]:
            highest[life] = (s.commit_index, s.time, s.term)
    return out


def _committed_entry_replaced(statuses: list[NodeStatus]) -> list[dict]:
    """The first report of each committed (index, term) pair; then any two that cannot be
    entries of one log. Sorted by index, a pair whose term is below the highest term seen at a
    lower index (or differs from the term seen at its own index) contradicts it."""
    seen: dict[tuple[int, int], NodeStatus] = {}
    for s in statuses:
        if s.commit_index is not None and s.commit_term is not None and s.commit_index > 0:
            seen.setdefault((s.commit_index, s.commit_term), s)
    out = []
    best: tuple[int, int, NodeStatus] | None = None  # (term, index, who) with the highest term so far
    by_index: dict[int, tuple[int, NodeStatus]] = {}
    for (index, term), s in sorted(seen.items(), key=lambda item: item[0]):
        if index in by_index and by_index[index][0] != term:
            other_term, other = by_index[index]
            out.append(_replaced(index, other_term, other, index, term, s))
        elif best is not None and term < best[0] and best[1] < index:
            out.append(_replaced(best[1], best[0], best[2], index, term, s))
        by_index.setdefault(index, (term, s))
        if best is None or term > best[0]:
            best = (term, index, s)
    return out


def _replaced(i1: int, t1: int, s1: NodeStatus, i2: int, t2: int, s2: NodeStatus) -> dict:
    a, b = sorted([(s1.time, i1, t1, s1.node), (s2.time, i2, t2, s2.node)])
    what = (f"entry {i1} committed in term {t1} and in term {t2}" if i1 == i2
            else f"entry {i1} committed with term {t1}, yet entry {i2} after it with the lower term {t2}")
    return {"invariant": "committed-entry-replaced", "nodes": sorted({s1.node, s2.node}), "term": max(t1, t2),
            "time_s": _s(b[0]), "message": f"{what}: {a[3]} at {_s(a[0])} s (index {a[1]}, term {a[2]}), "
                                          f"{b[3]} at {_s(b[0])} s (index {b[1]}, term {b[2]}); "
                                          f"a committed entry was replaced"}


def _committed_logs_differ(statuses: list[NodeStatus]) -> list[dict]:
    """Nodes that report their committed prefix (`commit_terms`) must agree on the term of every
    index both hold committed (Log Matching, on committed entries). Each report is checked
    against the first report of each index; the first disagreement of each node is reported."""
    reference: dict[int, tuple[int, NodeStatus]] = {}  # run start -> (term, first reporter), by index
    starts: list[int] = []  # sorted keys of `reference`, each run up to the next start
    covered = 0  # the reference covers (its first start, covered]
    out = []
    blamed: set[str] = set()
    for s in statuses:
        if s.commit_terms is None or s.commit_index is None or not s.commit_terms or s.node in blamed:
            continue
        runs = [(lo, (s.commit_terms[k + 1][0] - 1) if k + 1 < len(s.commit_terms) else s.commit_index, term)
                for k, (lo, term) in enumerate(s.commit_terms)]
        for lo, hi, term in runs:
            clash = _clash(reference, starts, covered, lo, hi, term)
            if clash is not None:
                index, other_term, other = clash
                blamed.add(s.node)
                out.append({"invariant": "committed-entry-replaced", "nodes": sorted({s.node, other.node}),
                            "term": max(term, other_term), "time_s": _s(s.time),
                            "message": f"entry {index} is committed in term {other_term} on {other.node} (at "
                                       f"{_s(other.time)} s) but in term {term} on {s.node} (at {_s(s.time)} s): "
                                       f"their committed logs differ"})
                break
        else:
            for lo, hi, term in runs:  # extend the reference past what it covers: always at its end
                if hi > covered:
                    start = max(lo, covered + 1) if starts else lo
                    if not starts or reference[starts[-1]][0] != term:  # a new run of terms
                        starts.append(start)
                        reference[start] = (term, s)
                    covered = hi
    return out


def _clash(reference, starts, covered, lo, hi, term):
    """(index, term, reporter) of the first reference entry in [lo, hi] whose term is not `term`."""
    if not starts or hi < starts[0] or lo > covered:
        return None
    k = max(0, bisect.bisect_right(starts, lo) - 1)
    while k < len(starts) and starts[k] <= min(hi, covered):
        other_term, who = reference[starts[k]]
        if other_term != term:
            return max(lo, starts[k]), other_term, who
        k += 1
    return None


def _leader_incomplete(statuses: list[NodeStatus]) -> list[dict]:
    """For each leader report (term T, last index L): the highest commit index reported by any
    node at a term below T must not exceed L. Reported once per (leader, term)."""
    commits = sorted(((s.term, s.commit_index, s) for s in statuses if s.term is not None and s.commit_index is not None),
                     key=lambda c: c[:2])
    out = []
    reported: set[tuple[str, int]] = set()
    leaders = [s for s in statuses if s.role == "leader" and s.term is not None and s.last_index is not None]
    # prefix maximum of commit index over terms, to answer "highest commit below term T" quickly
    best_below: list[tuple[int, int, NodeStatus]] = []  # (term, highest commit at terms <= term, who)
    top: tuple[int, NodeStatus] | None = None
    for term, commit, s in commits:
        if top is None or commit > top[0]:
            top = (commit, s)
        best_below.append((term, top[0], top[1]))
    terms = [b[0] for b in best_below]
    for lead in leaders:
        k = bisect.bisect_left(terms, lead.term)  # best_below[k - 1]: the last report at a lower term
        if k == 0 or (lead.node, lead.term) in reported:
            continue
        _, commit, who = best_below[k - 1]
        if commit > lead.last_index:
            reported.add((lead.node, lead.term))
            out.append({"invariant": "leader-incomplete", "nodes": sorted({lead.node, who.node}), "term": lead.term,
                        "time_s": _s(lead.time),
                        "message": f"{lead.node} led term {lead.term} at {_s(lead.time)} s with its log ending at "
                                   f"{lead.last_index}, but {who.node} had reported entries up to {commit} committed "
                                   f"in term {who.term} (at {_s(who.time)} s): a leader lacks committed entries"})
    return out


def _s(ns: int) -> float:
    return round(ns / NS, 3)
