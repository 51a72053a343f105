"""Process faults: kill -9 and restart (`kill` / `start`), the same for every node at one instant
(`power-cut` / `power-on`), SIGSTOP and SIGCONT (`pause` / `resume`).

All follow one shape: the fault op picks nodes with a node spec through the seeded rng and hits
them (in parallel, at one instant, or one after another); the healing op undoes it on the nodes
this nemesis hit; setup and teardown undo it on every node, whatever this nemesis believes, since a
crashed run or another fault may have left a node down or stopped. The system adapter does the work
and verifies it (the process reaped and its port closed, the process in state T, ...), so
`verified_ms` is the time from the start of the invoke until every node's change was verified. A
recorded value:

    {"target": "minority", "nodes": ["n2", "n4"], "verified_ms": 73}

Nodes hit at one instant carry `"together": true`; nodes hit one after another (a rolling kill, a
restart of several nodes) carry `"delays_ms"`, each node's delay after the first, in order."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Callable, Mapping, Sequence

from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nemesis.targets import NoTarget, resolve
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Killable, Pausable

TARGETS = ("one", "minority", "majority", "leader", "all")
# How often each node spec is drawn, relative to 1 for the others. Raft's hard moments are the
# leader's: a leader killed or frozen mid-replication is where lost acknowledged writes and
# elections on stale logs show up. A majority or every node killed must come back with everything
# it acknowledged (an election among restarted nodes is where a forgotten log or vote wins);
# pausing every node only stops the clock for all of them, so it keeps the plain weight.
KILL_WEIGHTS = {"leader": 3, "majority": 2, "all": 3}
# The Raft-aware specs a `--nemesis` name asks for by itself (`kill-leader`, `pause-follower`,
# ...): each is then one of the nemesis's specs, alongside the random ones of a plain `kill`.
RAFT_TARGETS = ("leader", "follower", "majority-with-leader", "majority-without-leader")
# A power cut's nodes are given one instant this far ahead: enough for every command to reach
# its node first (a few ms through a node's long-lived shell, 100-250 ms when a docker exec or an
# SSH channel must be opened), so that they die at once.
TOGETHER_LEAD_S = 0.3
# `kill` takes several nodes down one after another, in a random order, each up to this long after
# the first (a cascading failure): the first to die misses what the others still commit. Nodes
# restarted together come back in a random order, as far apart, as machines do after an outage,
# so that a restarted node missing committed entries can be among the first back when the next
# leader is chosen (survivors of the kill still usually win: git: bench/detect-results.md, 2026-12-02). About
# three of raftkv's election timeouts.
SPREAD_S = 1.0
PAUSE_WEIGHTS = {"leader": 3}


class ProcessNemesis:
    def __init__(
        self,
        fault: tuple[str, Callable[[Node], None]],
        heal: tuple[str, Callable[[Node], None]],
        nodes: list[Node],
        rng: random.Random,
        targets: Sequence[str] = TARGETS,
        primaries: Callable[[], list[str]] = list,
        weights: Mapping[str, int] | None = None,
        several: str = "parallel",
        spread_s: float = 0.0,
        held: set[str] | None = None,
    ):
        """`several`: how a fault hits several nodes: "parallel" (as fast as each can be
        reached), "together" (at one shared instant, `fault(node, at=...)`) or "rolling" (one
        after another in a random order, within `spread_s`). With `spread_s`, a heal of several
        nodes is spread the same way."""
        (self.fault_f, self._fault), (self.heal_f, self._heal) = fault, heal
        self.fs = frozenset({self.fault_f, self.heal_f})
        self.nodes = {n.name: n for n in nodes}
        self.rng = rng
        self.targets = list(targets)
        self.weights = [(weights or {}).get(t, 1) for t in self.targets]
        self.primaries = primaries
        self.several = several
        self.spread_s = spread_s
        self.hit: set[str] = set()  # nodes faulted and not yet healed by this nemesis
        self.held = held if held is not None else set()  # nodes a timed fault's trigger holds paused

    def setup(self) -> None:
        self.teardown()

    def invoke(self, op: Op) -> Op:
        started = time.monotonic()
        if op.f == self.fault_f:
            spec = self.rng.choices(self.targets, self.weights)[0]
            seen = Seen(self.primaries)
            try:
                names = resolve(spec, list(self.nodes), self.rng, seen, self.held)
            except NoTarget as e:
                return replace(op, value={"target": spec, "nodes": [], **seen.record(), "skipped": str(e)})
            value: dict = {"target": spec, "nodes": names, **seen.record()}
            fault = self._fault
            if self.several == "rolling" and len(names) > 1:
                fault = self._spread(names, fault, value)
            elif self.several == "together" and len(names) > 1:
                at = time.time() + TOGETHER_LEAD_S
                fault = lambda node: self._fault(node, at=at)  # noqa: E731
                value["together"] = True
            self.hit.update(names)
            self._hit(names, fault, value)
        elif op.f == self.heal_f:
            names = sorted(self.hit)
            value = {"nodes": names}
            heal = self._heal
            if self.spread_s and len(names) > 1:
                heal = self._spread(names, heal, value)
            self.hit.clear()
            self._hit(names, heal, value)
        else:
            raise UsageError(f"the {self.fault_f} nemesis cannot do {op.f!r}")
        value["verified_ms"] = None if "indeterminate" in value else round((time.monotonic() - started) * 1000)
        return replace(op, value=value)

    def _spread(self, names: list[str], action: Callable[[Node], None], value: dict) -> Callable[[Node], None]:
        """`action` on `names` in a random order, each up to `spread_s` after the first; the
        delays go into the recorded value."""
        delays = {n: self.rng.uniform(0, self.spread_s) for n in names}
        delays[min(delays, key=delays.get)] = 0.0
        value["delays_ms"] = {n: round(d * 1000) for n, d in sorted(delays.items(), key=lambda kv: kv[1])}
        return lambda node: (time.sleep(delays[node.name]), action(node))[1]

    def teardown(self) -> None:
        on_each(list(self.nodes.values()), self._heal)
        self.hit.clear()

    def _hit(self, names: list[str], action: Callable[[Node], None], value: dict) -> None:
        """`action` on every node of `names`. A node whose action could not be verified (the
        adapter's EnvironmentProblem: a process not reaped, not stopped, not listening again) makes
        the op indeterminate, with why per node; any other exception is the harness's failure."""
        failed: dict[str, str] = {}

        def act(node: Node) -> None:
            try:
                action(node)
            except EnvironmentProblem as e:
                failed[node.name] = str(e)

        on_each([self.nodes[n] for n in names], act)
        if failed:
            value["indeterminate"] = dict(sorted(failed.items()))


class Seen:
    """The system's primaries, asked at most once per fault and remembered for the record: the
    leader a Raft-aware target was chosen around is the proof it was aimed right."""

    def __init__(self, primaries: Callable[[], list[str]]):
        self._primaries = primaries
        self.leaders: list[str] | None = None

    def __call__(self) -> list[str]:
        if self.leaders is None:
            self.leaders = sorted(self._primaries())
        return self.leaders

    def record(self) -> dict:
        return {} if self.leaders is None else {"leaders": self.leaders}


def kill_nemesis(system: Killable, nodes: list[Node], rng: random.Random, **kw) -> ProcessNemesis:
    """kill -9 a node spec's nodes; `start` restarts them, keeping their data and address."""
    return ProcessNemesis(("kill", system.kill), ("start", system.start), nodes, rng, weights=KILL_WEIGHTS,
                          several="rolling", spread_s=SPREAD_S, **kw)


def pause_nemesis(system: Pausable, nodes: list[Node], rng: random.Random, **kw) -> ProcessNemesis:
    """SIGSTOP a node spec's nodes; `resume` continues them."""
    return ProcessNemesis(("pause", system.pause), ("resume", system.resume), nodes, rng, weights=PAUSE_WEIGHTS, **kw)


def power_cut_nemesis(system: Killable, nodes: list[Node], rng: random.Random) -> ProcessNemesis:
    """kill -9 every node at one instant, then `power-on` restarts them all: a power cut of the
    whole cluster (Jepsen's lose-unfsynced-writes). A system that keeps unsynced writes in a
    simulated page cache, as raftkv does here, loses exactly what it had not fsynced; a kill of
    fewer nodes never can lose an acknowledged write, since the survivors still hold it."""
    return ProcessNemesis(("power-cut", system.kill), ("power-on", system.start), nodes, rng, targets=("all",),
                          several="together", spread_s=SPREAD_S)
