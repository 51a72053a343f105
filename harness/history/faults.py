"""The fault vocabulary of a history: which nemesis ops start a fault and which op heals it, what
became of each (its outcome), and which records count as a `--nemesis` name having happened.

Progress lines, report bands, the availability and coverage checkers and the nemesis packages read
histories through these tables, so a new fault kind is named here once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from raft_jepsen.harness.history import Op

# start f -> (the f that heals it, the kind of fault)
FAULT_OPS: dict[str, tuple[str, str]] = {
    "start-partition": ("stop-partition", "partition"),
    "kill": ("start", "kill"),
    "pause": ("resume", "pause"),
    "power-cut": ("power-on", "kill"),
    "start-packet": ("stop-packet", "packet"),
    "start-clock": ("stop-clock", "clock"),
    "start-membership": ("stop-membership", "membership"),
}
HEALS = frozenset(stop for stop, _ in FAULT_OPS.values())
# Faults whose start, while one of them is in force, replaces it rather than adding to it: a
# partition is the state of the whole network, so a new grudge is the partition moving.
MOVES = frozenset({"start-partition"})

# What became of a nemesis op, in its value's "outcome" (OpenRaft's nemesis outcomes):
INSTALLED = "installed"  # a fault in effect, with its proof (verified_ms, measurements)
HEALED = "healed"  # a heal done and proven
SKIPPED = "skipped"  # nothing done, on purpose: no target fits (value["skipped"] says why)
INDETERMINATE = "indeterminate"  # done, but its effect could not be confirmed (value["indeterminate"]: why)
FAILED = "failed"  # the nemesis raised: a harness failure, recorded with the op's error
OUTCOMES = (INSTALLED, HEALED, SKIPPED, INDETERMINATE, FAILED)


def outcome_of(f: str, value: Any) -> str:
    """The outcome a nemesis's returned value shows, by the conventions every nemesis follows:
    `skipped` (why) when it did nothing, `verified_ms: null` (with `observed`, `unproven` or
    `indeterminate` saying what was seen) when the effect was not confirmed."""
    if not isinstance(value, Mapping):
        return INDETERMINATE
    if value.get("skipped"):
        return SKIPPED
    if value.get("indeterminate") or ("verified_ms" in value and value["verified_ms"] is None):
        return INDETERMINATE
    return HEALED if f in HEALS else INSTALLED


def outcome(op: Op) -> str:
    """A recorded nemesis op's outcome: its value's, a failure for an op the nemesis raised on,
    and for records older than outcomes, what its value shows."""
    if op.error:
        return FAILED
    value = op.value if isinstance(op.value, Mapping) else {}
    recorded = value.get("outcome")
    return recorded if recorded in OUTCOMES else outcome_of(op.f, op.value)


# --nemesis name -> (the start f its faults are recorded under, the value field that tells them
# apart, the field values that count; None: every fault of that f). A requested name none of
# whose records was installed makes the coverage check unknown.
COVERS: dict[str, tuple[str, str | None, frozenset | None]] = {
    "partition": ("start-partition", None, None),
    "kill": ("kill", None, None),
    "pause": ("pause", None, None),
    "power-cut": ("power-cut", None, None),
    "lose-unsynced": ("power-cut", "filesystem", frozenset({"lazyfs"})),
    "packet": ("start-packet", None, None),
    "clock": ("start-clock", None, None),
    "membership": ("start-membership", None, None),
}
for _kind in ("halves", "one", "leader", "ring", "bridge", "leader-minority", "leader-majority", "snapshot"):
    COVERS[f"partition-{_kind}"] = ("start-partition", "kind", frozenset({_kind}))
for _kind in ("delay", "reorder", "duplicate", "loss", "latency"):
    COVERS[f"packet-{_kind}"] = ("start-packet", "kind", frozenset({_kind}))
for _kind in ("bump", "strobe"):
    COVERS[f"clock-{_kind}"] = ("start-clock", "kind", frozenset({_kind}))
for _f in ("kill", "pause"):
    for _target in ("leader", "follower", "majority-with-leader", "majority-without-leader"):
        COVERS[f"{_f}-{_target}"] = (_f, "target", frozenset({_target}))
COVERS["pause-all"] = ("pause", "target", frozenset({"all"}))


def covers(name: str, op: Op) -> bool:
    """Whether the nemesis record `op` is a fault of the `--nemesis` name `name`."""
    if name not in COVERS:
        return False
    f, field, values = COVERS[name]
    if op.f != f:
        return False
    return values is None or (isinstance(op.value, Mapping) and op.value.get(field) in values)

# Final-phase heals that end a fault kind other than by its stop op: the membership fault's
# restore waits, after the network is healed, until the original membership is committed.
FINAL_HEALS: dict[str, str] = {"restore-membership": "start-membership"}
