"""The fault vocabulary of a history: which nemesis ops start a fault and which op heals it.

Progress lines, report bands, the availability checker and the nemesis packages read histories
through this one table, so a new fault kind is named here once."""

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
# Faults whose start, while one of them is in force, replaces it rather than adding to it: a
# partition is the state of the whole network, so a new grudge is the partition moving.
MOVES = frozenset({"start-partition"})
# Final-phase heals that end a fault kind other than by its stop op: the membership fault's
# restore waits, after the network is healed, until the original membership is committed.
FINAL_HEALS: dict[str, str] = {"restore-membership": "start-membership"}
