"""The coverage check: did every fault the test asked for actually happen?

A test that asked for partitions and never partitioned (no leader to aim at, a probe that never
saw the cut) proves nothing about partitions, so it cannot pass as valid. For each `--nemesis`
name, the nemesis records that count as that fault (`harness.history.faults.COVERS`) are counted
by outcome (installed, skipped, indeterminate, failed), and the time the installed ones were in
effect is summed (from the record to the heal, or to the next fault of a kind that moves, or to
the end of the history). A requested name never installed makes the result "unknown", with the
reason; a name the table does not know (a fault added by a plugin) is listed as not tracked and
decides nothing. OpenRaft's Jepsen suite fails a run whose required fault modes never happened
the same way."""

from __future__ import annotations

from collections.abc import Sequence

from raft_jepsen.harness.history import NEMESIS, Op
from raft_jepsen.harness.history.faults import COVERS, FAULT_OPS, INSTALLED, MOVES, OUTCOMES, covers, outcome


class Coverage:
    def __init__(self, requested: Sequence[str]):
        self.requested = list(dict.fromkeys(requested))

    def check(self, history: list[Op]) -> dict:
        faults = [op for op in history if op.process == NEMESIS]
        ends = _in_effect_until(faults, max((op.time for op in history), default=0))
        kinds: dict[str, dict] = {}
        for name in self.requested:
            if name not in COVERS:
                kinds[name] = {"tracked": False}
                continue
            mine = [op for op in faults if covers(name, op) or (op.error and op.f == COVERS[name][0])]
            counts = {o: 0 for o in OUTCOMES}
            in_effect = 0
            for op in mine:
                counts[outcome(op)] += 1
                if outcome(op) == INSTALLED:
                    in_effect += ends.get(op.index, op.time) - op.time
            kinds[name] = {**{o: n for o, n in counts.items() if n}, "in_effect_s": round(in_effect / 1e9, 3)}
        missing = [n for n, k in kinds.items() if k.get("tracked", True) and not k.get(INSTALLED)]
        result: dict = {"valid": "unknown" if missing else True, "faults": kinds}
        if missing:
            result["missing"] = missing
            result["reason"] = "requested fault" + ("s" if len(missing) > 1 else "") + " never in effect: " + "; ".join(
                f"{n} ({_tally(kinds[n])})" for n in missing)
        return result


def _in_effect_until(faults: list[Op], end: int) -> dict[int, int]:
    """For each start record's index, when its fault ended: the heal of its kind, the next start of
    a kind that moves, or `end`."""
    heal_of = {start: stop for start, (stop, _) in FAULT_OPS.items()}
    open_: dict[str, list[Op]] = {}
    until: dict[int, int] = {}
    for op in faults:
        if op.f in heal_of:
            if op.f in MOVES:
                for started in open_.pop(op.f, []):
                    until[started.index] = op.time
            open_.setdefault(op.f, []).append(op)
            continue
        for start, stop in heal_of.items():
            if op.f == stop:
                for started in open_.pop(start, []):
                    until[started.index] = op.time
    for pending in open_.values():
        for started in pending:
            until[started.index] = end
    return until


def _tally(counts: dict) -> str:
    seen = [f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o)]
    return ", ".join(seen) if seen else "never attempted"
