"""Membership changes as a fault: members removed and added back while the workload runs.

`start-membership` starts a churn of changes in a thread of its own; `stop-membership` tells it
to stop and to add back every member it removed, and returns at once: the nemesis thread is
shared, and a partition in force (behind which the members to add may be) is healed by a later op
on it. `restore-membership`, the final phase's heal, runs after the network is healed and waits
until the original membership is committed (`SETTLE_S`), so the final reads meet the cluster the
run began with. The churn alternates:
remove members at once (mostly as many as may go: never below three voters, or two in a
three-node cluster; mostly followers), then, after a pause of up to `PAUSE_S`, add every removed
one back at once, and so on. Changes
asked for at once reach the leader at once: a correct Raft takes them one at a time (each
single-server change committed before the next), a flawed one may stack them, and two stacked
single-server steps are a configuration whose majorities need not meet the old one's (raftkv's
`config-before-commit`). The churn runs on the background cycle, so partitions, kills and
pauses land in the middle of it.

Every change goes through the system's `HasMembership` ability, one server at a time: a removed
node is left running (a decommissioned machine until someone turns it off; an adapter whose
members stop themselves, as etcd's do, may stop it), an added one comes back as the system
allows (etcd: a fresh machine with a new member id; raftkv: the same machine with its disk). Proof is the configuration read back from the leader after each change. A recorded
`stop-membership` value:

    {"changes": [{"at_ms": 310, "remove": ["n4", "n5"], "outcome": "installed",
                  "members": ["n1", "n2", "n3"], "committed": true, "took_ms": 42}, ...],
     "out": ["n4", "n5"], "members": ["n1", "n2", "n3"], "committed": true, "verified_ms": 12}

and the final `restore-membership`: `{"changes": [...], "healed": ["n4", "n5"], "members":
["n1", ..., "n5"], "committed": true, "verified_ms": 2210}`.

`at_ms` counts from the `start-membership` whose churn made the change; a change made while
adding back after a stop carries `"restore": true` and is recorded by the next op. A change that
did not complete in time is `"outcome": "indeterminate"` with the `error`: it may still take
effect, which the next read-back shows; the heal waits for the configuration to settle before it
adds anyone back. A `stop-membership` records `out` (still to add back) and the membership read
back then; a final heal that fails is recorded as `"outcome": "indeterminate"` with its `error`
and the changes made, and the nemesis's teardown tries it again and raises if the configuration
still is not the original."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace
from typing import Callable

from raft_jepsen.harness.errors import EnvironmentProblem, RaftJepsenError, UsageError
from raft_jepsen.harness.history import Op
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import HasMembership

NAME = "membership"
START, STOP = "start-membership", "stop-membership"
RESTORE = "restore-membership"  # the final phase's heal (history.faults.FINAL_HEALS)
# Longest pause between two changes of the churn. Removed members stay out that long at most
# (or until the stop): long enough for the rest of the cluster to elect and serve without them.
# At 0.5 s the churn re-added (wiping) the members cut off behind a partition before they could
# elect, which hid what config-before-commit does there (git: bench/detect-results.md, 2026-12-07).
PAUSE_S = 2.0
SETTLE_S = 15.0  # how long the final heal waits for a leader and a committed configuration
# After a stop the churn keeps adding back what it removed for this long, in its own thread.
RESTORE_TRY_S = 20.0


def most_removable(n: int) -> int:
    """How many of `n` members the churn may take out at once: it keeps three voters (two of a
    three-node cluster), so the cluster can still lose one and go on."""
    return max(1, n - 3) if n >= 3 else 0


class MembershipNemesis:
    fs = frozenset({START, STOP, RESTORE})

    def __init__(self, system: HasMembership, nodes: list[Node], rng: random.Random,
                 primaries: Callable[[], list[str]] | None = None,
                 pause_s: float = PAUSE_S, clock: Callable[[], float] = time.monotonic):
        if not isinstance(system, HasMembership):
            raise UsageError(f"system {type(system).__name__} cannot change its membership")
        if most_removable(len(nodes)) < 1:
            raise UsageError(f"nemesis {NAME} needs at least 3 nodes, the cluster has {len(nodes)}")
        self.system = system
        self.nodes = list(nodes)
        self.by_name = {n.name: n for n in nodes}
        self.original = sorted(self.by_name)
        # Its own generator: the churn draws from another thread than the other faults' ops.
        self.rng = random.Random(rng.getrandbits(64))
        self.primaries = primaries  # who leads now, when the system can say
        self.pause_s = pause_s
        self.clock = clock
        self.out: set[str] = set()  # removed by the churn, not yet added back
        self.changes: list[dict] = []
        self._stop = threading.Event()
        self._final = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._failure: BaseException | None = None

    def setup(self) -> None:
        pass  # the cluster starts with every node a member: nothing to undo yet

    def invoke(self, op: Op) -> Op:
        started = self.clock()
        if op.f == START:
            value = self._start()
        elif op.f == STOP:
            value = self._stop_churn()
        elif op.f == RESTORE:
            changes = self._take_changes()
            try:
                value = self._stop_and_heal()
                value["changes"] = changes + value["changes"]
            except RaftJepsenError as e:
                # What was done is still recorded; teardown tries the heal again and fails the
                # run if the configuration cannot be restored.
                value = {"changes": changes + self._take_changes(), "outcome": "indeterminate", "error": str(e)}
        else:
            raise UsageError(f"the {NAME} nemesis cannot do {op.f!r}")
        value["verified_ms"] = round((self.clock() - started) * 1000)
        return replace(op, value=value)

    def teardown(self) -> None:
        self._stop_and_heal()

    # ---- the churn ----------------------------------------------------------------------

    def _start(self) -> dict:
        if self._thread is not None and self._thread.is_alive():
            return {"skipped": "the previous churn is still adding members back", "out": sorted(self.out),
                    "changes": self._take_changes()}
        value: dict = {"original": self.original}
        try:
            value["members"], value["committed"] = self._read_back()
        except RaftJepsenError as e:  # no leader now (an election under way): churn all the same
            value["members"], value["committed"], value["error"] = None, False, str(e)
        if self.changes:
            value["changes"] = self._take_changes()  # the last churn's restore, finished since
        self._failure = None
        self._stop.clear()
        self._started = self.clock()
        self._thread = threading.Thread(target=self._churn, name="membership-churn", daemon=True)
        self._thread.start()
        return value

    def _stop_churn(self) -> dict:
        """Tell the churn to stop and to add back what it removed, and return at once: the
        nemesis thread is shared, and a partition in force (behind which the members to add may
        be) is healed by a later op on it."""
        self._stop.set()
        value: dict = {"changes": self._take_changes(), "out": sorted(self.out)}
        try:
            value["members"], value["committed"] = self._read_back()
        except RaftJepsenError as e:
            value["members"], value["committed"], value["error"] = None, False, str(e)
        if self._failure is not None:
            value["churn_error"] = repr(self._failure)
        return value

    def _take_changes(self) -> list[dict]:
        with self._lock:
            taken, self.changes = self.changes, []
        return taken

    def _churn(self) -> None:
        try:
            while not self._stop.is_set():
                if self.out:
                    self._change("add", sorted(self.out))
                else:
                    self._change("remove", self._draw_removal())
                self._stop.wait(self.rng.uniform(0, self.pause_s))
            deadline = self.clock() + RESTORE_TRY_S
            while self.out and self.clock() < deadline and not self._final.is_set():
                self._change("add", sorted(self.out), restore=True)
                self._final.wait(0.2 if self.out else 0)  # a failed add is tried again, not in a spin
        except BaseException as e:  # noqa: BLE001 - reported by the next op, never lost
            self._failure = e

    def _draw_removal(self) -> list[str]:
        """As many members as may go at once, three times in four (one otherwise); followers
        only, three times in four, when the system can name its leader: two followers removed
        at once while the leader and one other are cut off from the rest is the moment a
        stacked configuration gives the cut-off pair a majority of their own."""
        most = most_removable(len(self.original))
        k = most if self.rng.random() < 0.75 else self.rng.randint(1, most)
        pool = [m for m in self.original if m not in self.out]
        if self.primaries is not None and self.rng.random() < 0.75:
            leaders = set(self.primaries())
            followers = [m for m in pool if m not in leaders]
            if len(followers) >= k:
                pool = followers
        return sorted(self.rng.sample(pool, k))

    def _change(self, action: str, names: list[str], restore: bool = False) -> None:
        """Change every one of `names` at once (one thread each), then read the result back."""
        began = self.clock()
        record: dict = {"at_ms": round((began - self._started) * 1000), action: names}
        if restore:
            record["restore"] = True
        do = self.system.remove_member if action == "remove" else self.system.add_member
        errors: list[str] = []

        def one(node: Node) -> None:
            try:
                do(self.nodes, node)
            except RaftJepsenError as e:
                errors.append(f"{node.name}: {e}")

        if action == "remove":
            self.out.update(names)  # even if unconfirmed: the heal must look at them
        on_each([self.by_name[n] for n in names], one)
        record["outcome"] = "indeterminate" if errors else "installed"
        if errors:
            record["error"] = "; ".join(sorted(errors))
        try:
            record["members"], record["committed"] = self._read_back()
        except RaftJepsenError as e:
            record["members"], record["committed"] = None, False
            record.setdefault("error", str(e))
        if action == "add" and not errors:
            self.out.difference_update(names)
        record["took_ms"] = round((self.clock() - began) * 1000)
        with self._lock:
            self.changes.append(record)

    # ---- the heal -----------------------------------------------------------------------

    def _stop_and_heal(self, settle_s: float = SETTLE_S) -> dict:
        """Stop the churn, then add back every node that is not a member of the committed
        configuration, waiting up to `settle_s` for it to settle; the original configuration,
        committed, is the proof."""
        self._stop.set()
        self._final.set()  # no more restore attempts of its own: this heal does it
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._final.clear()
        value: dict = {"changes": self._take_changes()}
        if self._failure is not None:
            value["churn_error"] = repr(self._failure)
        members = self._settled(settle_s)
        missing = [n for n in self.original if n not in members]
        value["healed"] = missing
        if missing:
            on_each([self.by_name[n] for n in missing], lambda node: self.system.add_member(self.nodes, node))
            members = self._settled(settle_s)
        if members != self.original:
            raise EnvironmentProblem(f"membership not healed: the configuration is {members}, not {self.original}")
        self.out.clear()
        value["members"], value["committed"] = members, True
        return value

    def _settled(self, settle_s: float) -> list[str]:
        """The committed configuration, once a leader has committed its latest one."""
        deadline = self.clock() + settle_s
        last = "no answer"
        while self.clock() < deadline:
            try:
                members, committed = self._read_back()
            except RaftJepsenError as e:
                last = str(e)
            else:
                if committed:
                    return members
                last = f"configuration {members} not committed"
            time.sleep(0.1)
        raise EnvironmentProblem(f"membership did not settle within {settle_s:g} s: {last}")

    def _read_back(self) -> tuple[list[str], bool]:
        """(members, committed) as the leader says; a system without `members_committed` is
        read through `members`, which an adapter returns only once committed."""
        committed = getattr(self.system, "members_committed", None)
        if committed is not None:
            return committed(self.nodes)
        return self.system.members(self.nodes), True
