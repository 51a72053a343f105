"""What happened to the cluster over the run: fault intervals and leadership changes.

Faults come from the nemesis records of the history: a start record opens an interval that the
matching stop record closes (`start-partition`/`stop-partition`, `kill`/`start`, `pause`/`resume`,
and any `start-X`/`stop-X`); a start of a kind that moves (a partition) while one is in force
ends that one where the new one begins. A fault never healed lasts to the end of the run.
Leadership comes from the role changes the runner read from the node logs (`roles.jsonl`, on the
history's time axis).
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Iterable

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import FAULT_OPS, FINAL_HEALS, INSTALLED, MOVES, outcome
from raft_jepsen.harness.history.roles import RoleChange

_STOPS = {**{stop: start for start, (stop, _) in FAULT_OPS.items()}, **FINAL_HEALS}
_KIND = {start: kind for start, (_, kind) in FAULT_OPS.items()}


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # partition / kill / pause / clock / ...: chooses the band's colour
    f: str  # the start record's f
    start: int  # ns
    stop: int | None  # ns; None = never healed in this history
    value: Any
    index: int  # the start record's index in the history
    outcome: str = INSTALLED  # installed, skipped, indeterminate or failed (harness.history.faults)

    def describe(self) -> str:
        text = f"{self.f} {_describe_value(self.value)}".strip()
        return text if self.outcome == INSTALLED else f"{text} [{self.outcome}{_why(self.value)}]"


@dataclass(frozen=True, slots=True)
class LeaderChange:
    time: int  # ns
    leader: str
    term: int | None


def faults(history: Iterable[Op]) -> list[Fault]:
    open_: dict[str, deque[Op]] = defaultdict(deque)
    found: list[Fault] = []
    for op in history:
        if op.is_client:
            continue
        start_f = _STOPS.get(op.f) or (f"start-{op.f[5:]}" if op.f.startswith("stop-") else None)
        if start_f is None:
            if op.f in MOVES and open_[op.f]:
                found.append(_fault(open_[op.f].popleft(), op.time))
            open_[op.f].append(op)
        elif open_[start_f]:
            started = open_[start_f].popleft()
            found.append(_fault(started, op.time))
    for pending in open_.values():
        found.extend(_fault(op, None) for op in pending)
    return sorted(found, key=lambda f: f.start)


def _fault(op: Op, stop: int | None) -> Fault:
    kind = _KIND.get(op.f) or (op.f[6:] if op.f.startswith("start-") else op.f)
    return Fault(kind=kind, f=op.f, start=op.time, stop=stop, value=op.value, index=op.index, outcome=outcome(op))


def _why(value: Any) -> str:
    """A skipped or indeterminate fault's reason, when it is a line of text."""
    if isinstance(value, dict):
        for key in ("skipped", "indeterminate"):
            if isinstance(value.get(key), str):
                return f": {value[key]}"
    return ""


def _describe_value(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("nodes"), list):
        nodes = ", ".join(map(str, value["nodes"]))
        return f"{value['kind']}: {nodes}" if isinstance(value.get("kind"), str) else nodes  # packet, clock
    if isinstance(value, dict) and isinstance(value.get("grudge"), dict):
        return "; ".join(f"{n} cut from {', '.join(map(str, peers)) if isinstance(peers, list) else peers}"
                         for n, peers in value["grudge"].items())
    return "" if value is None else str(value)


def leader_changes(events: Iterable[RoleChange]) -> list[LeaderChange]:
    """Each node that announces itself leader of a new term; repeats of the same leadership
    (every node logs the election it learns of) are folded into the first."""
    changes: list[LeaderChange] = []
    seen: set[tuple[str, int | None]] = set()
    for e in events:
        if e.role != "leader":
            continue
        if (e.node, e.term) in seen:
            continue
        seen.add((e.node, e.term))
        changes.append(LeaderChange(e.time, e.node, e.term))
    return changes
