"""The runner: one test, from nothing to a verdict (jepsen.core's `run!`).

`run(spec)` never mutates the spec; it returns a `RunResult`. The lifecycle:

 1. ensure the node image (built when missing)                           backend.cluster
 2. start the cluster                                                    backend.cluster
 3. set the system up on every node, in parallel; build the nemesis package (a spec the cluster
    cannot serve fails here, before any run folder exists)
 4. create the run folder (`test.yaml` with the seed); health check: every node answers and one
    leads within HEALTH_DEADLINE_S, else the verdict is unknown with the reason (skip to 10)
 5. nemesis setup (which heals anything left over)
 6. the workload: client ops at `rate` plus faults every `nemesis-interval`, for `time-limit`
 7. heal every fault (the final phase's heal ops; then nemesis teardown, always)
 8. recovery: wait `recovery-time` seconds (after the probe of 9)
 9. the liveness probe (the workload's ops until an update and a read succeed, up to
    `liveness-deadline` s), the recovery wait, final reads of every key through every node; then
    each node's state digest (HasDigests). A status monitor (HasStatus) polls every node from 6
    to here: status.jsonl
10. collect the node logs into nodes/<n>/, and the role changes they tell into roles.jsonl
11. tear the system and the cluster down: always (finally), unless leave-running
12. check: the history well formed and not too thin, then the workload's checkers and stats,
    the Raft invariants (from roles.jsonl, status.jsonl, digests) and liveness
13. results.json: the run's outcome (the CLI then writes report.html and JUnit)

A nemesis that raises (anything but a fault it records as skipped or indeterminate) is the
harness's failure: once its op is in the history (with the error), the stop flag is set, so no new
operation starts; faults are healed, what ran is checked, and the verdict is unknown (exit 2) with
the failure as the reason.

SIGINT/SIGTERM set a stop flag instead of raising: the workload ends, outstanding ops are recorded
as `info`, and steps 7 and 10-13 still run, so a partial history is healed, checked and reported
(a second signal aborts at once). Errors in steps 1-3 propagate (exit 3); from step 4 on, every
problem ends up in results.json.
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from raft_jepsen import workloads
from raft_jepsen.checkers import verdict
from raft_jepsen.checkers.coverage import Coverage
from raft_jepsen.checkers.invariants import RaftInvariants
from raft_jepsen.checkers.liveness import Liveness
from raft_jepsen.checkers.stats import Stats
from raft_jepsen.harness import store, systems
from raft_jepsen.harness.backend import Backend, real
from raft_jepsen.harness.errors import RaftJepsenError
from raft_jepsen.harness.generator.core import clients, phases, rate, sleep, time_limit, with_nemesis
from raft_jepsen.harness.generator.faults import fault_schedule, final_phase
from raft_jepsen.harness.generator.probe import probe
from raft_jepsen.harness.health import wait_healthy
from raft_jepsen.harness.history import NEMESIS, HistoryWriter, Op, read_jsonl, roles, verdicts
from raft_jepsen.harness.history.roles import Digest, RoleChange
from raft_jepsen.harness.interpreter import Interpreter
from raft_jepsen.harness.nemesis.package import Package
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.spec import Spec
from raft_jepsen.harness.status_monitor import StatusMonitor
from raft_jepsen.harness.systems.base import Client, HasDigests, HasLogs, HasRoleLog, System

HEALTH_DEADLINE_S = 30.0


@dataclass(frozen=True)
class RunResult:
    spec: Spec
    run_dir: Path
    valid: bool | str
    reason: str | None  # why the verdict is unknown
    results: dict = field(repr=False)
    interrupted: bool = False  # SIGINT/SIGTERM ended it: a series of runs stops there too

    @property
    def exit_code(self) -> int:
        return verdicts.exit_code(self.valid)

    @property
    def anomaly(self) -> str | None:
        return verdict.anomaly(self.results.get("checkers", {}))


@dataclass
class _Outcome:
    """What steps 4-10 leave behind for the verdict."""

    nodes: list[str] = field(default_factory=list)
    started_epoch_ns: int = field(default_factory=time.time_ns)  # reset when the history starts
    duration_s: float = 0.0
    reason: str | None = None  # set when the run could not complete (unhealthy, interrupted)
    warnings: list[str] = field(default_factory=list)
    digests: dict[str, Digest | None] | None = None  # each node's applied state, once healed
    harness_failure: str | None = None  # the nemesis raised: the run stopped, its verdict is unknown
    signalled: bool = False  # SIGINT/SIGTERM arrived


def run(
    spec: Spec,
    *,
    backend: Backend | None = None,
    observer: Callable[[Op], None] = lambda op: None,
    progress: Callable[[str], None] = lambda line: None,
    stop: threading.Event | None = None,
) -> RunResult:
    """Run the test `spec` describes. `observer` sees every history record as it is written,
    `progress` gets one-line lifecycle messages, `stop` may be set to end the run early."""
    backend = backend or real()
    stop = stop or threading.Event()
    workload = workloads.get(spec.workload)
    rng = random.Random(spec.seed)
    outcome = _Outcome()
    with _stop_on_signals(stop, progress, outcome):
        with backend.cluster(spec, progress) as nodes:  # 1, 2
            outcome.nodes = [n.name for n in nodes]
            system = backend.system(spec, nodes)
            try:
                progress(f"setting up {spec.system} on {len(nodes)} nodes")
                _on_every_node(system.setup, nodes)  # 3
                # The nemesis draws from its own source, in its own thread: its choices (which
                # partition, which nodes) then replay from the seed whatever the clients' timing.
                package = backend.nemesis(spec, nodes, system, random.Random(rng.getrandbits(64)))
                run_dir = _new_run_dir(spec)  # 4
                _exercise(spec, nodes, system, package, workload, rng, run_dir, stop, outcome, observer, progress)
                _collect_logs(system, nodes, run_dir, outcome)  # 10
                _read_roles(system, nodes, run_dir, outcome)
            finally:
                if not spec.leave_running:  # 11
                    progress("tearing down")
                    _teardown(system, nodes, outcome)
    return _conclude(spec, run_dir, workload, outcome, progress)


def _exercise(spec, nodes, system, package: Package, workload, rng, run_dir, stop, outcome, observer, progress) -> None:
    """Steps 4-9: health, faults and workload, heal, recovery, final reads."""
    open_client = _client_opener(system)
    with HistoryWriter(run_dir / store.HISTORY) as writer:  # the file exists even if nothing runs
        outcome.reason = wait_healthy(system, nodes, open_client, deadline_s=HEALTH_DEADLINE_S, stop=stop.is_set)
        if stop.is_set():
            outcome.reason = "interrupted before the workload began"
        if outcome.reason is not None:
            return
        keys: dict = {}  # every key the workload touched, in order (an ordered set)

        def record(op: Op) -> None:
            if op.type == "invoke" and op.is_client and op.key is not None:
                keys.setdefault(op.key)
            if op.process == NEMESIS and op.error and outcome.harness_failure is None:
                # The nemesis raised (the interpreter records it with the error): our failure, not
                # the system's. Stop here, once it is in the history; the rest still heals and checks.
                outcome.harness_failure = (f"harness failure: {op.f}: {op.error}; new operations stopped, faults "
                                           "healed, what ran was checked")
                progress(outcome.harness_failure)
                stop.set()
            observer(op)

        try:
            package.nemesis.setup()  # 5
        except RaftJepsenError as e:
            outcome.reason = f"nemesis setup failed: {e}"
            _heal(package, outcome)
            return
        t0 = time.monotonic_ns()  # time 0 of the history: the fault timetable counts from here
        outcome.started_epoch_ns = time.time_ns()
        monitor = StatusMonitor(system, nodes).start()
        interpreter = Interpreter(
            nodes=nodes,
            open_client=open_client,
            nemesis=package.nemesis,
            writer=writer,
            concurrency=spec.concurrency,
            seed=spec.seed,
            clock=lambda: time.monotonic_ns() - t0,
            stop=stop,
            observer=record,
        )
        try:
            faults = [({"f": start}, {"f": stop_}) for start, stop_ in package.faults]
            background = [({"f": start}, {"f": stop_}) for start, stop_ in package.background]
            schedule = fault_schedule(faults, spec.nemesis_interval, rng, package.moves, background)
            main = with_nemesis(schedule, rate(spec.rate, workload.generator(spec)))
            progress(f"running {spec.workload} for {spec.time_limit:g} s (seed {spec.seed})")
            if interpreter.run(time_limit(spec.time_limit, main)):  # 6
                progress(f"healing, {spec.recovery_time:g} s to recover, final reads")
                heals = [{"f": f} for f in package.final]
                reads = workload.final_reads(spec, [n.name for n in nodes], list(keys))
                final = final_phase(heals, spec.recovery_time, reads)
                if spec.liveness_deadline > 0:
                    live = probe(workload.generator(spec), spec.rate, spec.liveness_deadline)
                    final = phases(final_phase(heals, 0, live), sleep(spec.recovery_time), clients(reads))
                if interpreter.run(final):  # 7, 8, 9
                    outcome.digests = _digests(system, nodes, outcome)
        finally:
            interpreter.close()
            monitor.write(run_dir / store.STATUS, outcome.started_epoch_ns)
            outcome.warnings += monitor.errors
            _heal(package, outcome)  # 7: heal everything, whatever happened above
            outcome.duration_s = round((time.monotonic_ns() - t0) / 1e9, 3)
        if outcome.harness_failure is not None:
            outcome.reason = outcome.harness_failure
        elif stop.is_set():
            outcome.reason = f"interrupted after {outcome.duration_s:g} s"


def _digests(system: System, nodes: list[Node], outcome: _Outcome) -> dict[str, Digest | None] | None:
    """Step 9's end: the nodes' state digests, when the system can give them."""
    if not isinstance(system, HasDigests):
        return None
    try:
        return system.digests(nodes)
    except Exception as e:  # a digest that cannot be read costs that comparison, never the run
        outcome.warnings.append(f"state digests not read: {type(e).__name__}: {e}")
        return None


def _heal(package: Package, outcome: _Outcome) -> None:
    try:
        package.nemesis.teardown()
    except RaftJepsenError as e:
        outcome.warnings.append(f"healing failed: {e}")


def _conclude(spec: Spec, run_dir: Path, workload, outcome: _Outcome, progress) -> RunResult:
    """Steps 12-13."""
    progress("checking the history")
    history = list(read_jsonl(run_dir / store.HISTORY))
    checkers = {**workload.checkers(spec), "stats": Stats(), **_node_checkers(spec, run_dir, outcome)}
    if spec.nemesis and outcome.reason is None:  # a run cut short says why it is unknown already
        checkers["coverage"] = Coverage(spec.nemesis)
    valid, reason, results = verdict.judge(history, checkers)
    if outcome.harness_failure is not None:  # our crash: whatever the partial history shows, exit 2
        found = verdict.anomaly(results) if valid is False else None
        valid, reason = "unknown", outcome.harness_failure + (f"; what ran also shows {found}" if found else "")
    elif outcome.reason is not None and valid is not False:  # a found anomaly is real, even in a partial run
        valid, reason = "unknown", outcome.reason
    counts = {t: sum(1 for op in history if op.is_client and op.type == t) for t in ("invoke", "ok", "fail", "info")}
    document = {
        "schema": 1,
        "valid": valid,
        "reason": reason,
        "test": spec.test_name,
        "run_dir": str(run_dir),
        "started": datetime.fromtimestamp(outcome.started_epoch_ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_epoch_ns": outcome.started_epoch_ns,
        "duration_s": outcome.duration_s,
        "seed": spec.seed,
        "system": spec.system,
        "bugs": list(spec.bugs),
        "workload": spec.workload,
        "nemesis": list(spec.nemesis),
        "nodes": outcome.nodes,
        "op_counts": counts,
        "checkers": results,
        **verdict.safety_and_liveness(results),
        "warnings": outcome.warnings,
    }
    if outcome.digests is not None:
        document["digests"] = {n: (asdict(d) if d else None) for n, d in outcome.digests.items()}
    store.write_results(run_dir, document)
    return RunResult(spec, run_dir, valid, reason, document, interrupted=outcome.signalled)


def _node_checkers(spec: Spec, run_dir: Path, outcome: _Outcome) -> dict:
    """The Raft invariants, from what the nodes said of themselves (HasRoleLog, HasStatus,
    HasDigests), and liveness (only for a run that went through to its final phase)."""
    kind = systems.get(spec.system)
    statuses = list(roles.read_status(run_dir / store.STATUS)) if (run_dir / store.STATUS).is_file() else []
    out: dict = {}
    changes = list(roles.read_jsonl(run_dir / store.ROLES)) if (run_dir / store.ROLES).is_file() else []
    if changes or statuses or outcome.digests is not None:  # a system that says nothing is not judged on it
        out["invariants"] = RaftInvariants(roles=changes, statuses=statuses, digests=outcome.digests)
    if spec.liveness_deadline > 0 and outcome.reason is None:  # a run cut short had no final heal to judge
        out["liveness"] = Liveness(spec.liveness_deadline, statuses=statuses, pre_vote=kind.pre_votes(kind.parse_options(dict(spec.system_opts))),
                                   roles=changes if (run_dir / store.ROLES).is_file() else None)
    return out


def _new_run_dir(spec: Spec) -> Path:
    run_dir = store.create_run_dir(spec.store, spec.test_name, datetime.now(timezone.utc))
    store.write_spec(run_dir, replace(spec, test_count=1))  # this run alone, with its own seed
    store.update_latest(spec.store, run_dir)
    return run_dir


def _client_opener(system: System) -> Callable[[Node], Client]:
    def open_client(node: Node) -> Client:
        client = system.client(node)
        client.open(node)
        return client

    return open_client


def _on_every_node(action: Callable[[Node], None], nodes: list[Node]) -> None:
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        for future in [pool.submit(action, n) for n in nodes]:
            future.result()  # the first failure propagates, after every node has had its go


def _collect_logs(system: System, nodes: list[Node], run_dir: Path, outcome: _Outcome) -> None:
    if not isinstance(system, HasLogs):
        return
    for node in nodes:
        for path in system.log_files(node):
            try:
                node.remote.download(path, store.node_dir(run_dir, node.name) / Path(path).name)
            except Exception as e:  # a missing log never costs the verdict
                outcome.warnings.append(f"{node.name}: could not copy {path}: {e}")


def _read_roles(system: System, nodes: list[Node], run_dir: Path, outcome: _Outcome) -> None:
    """roles.jsonl: the role changes in the copied logs, as the system's adapter reads them,
    placed on the history's time axis (the report's leader lane; the Raft invariants)."""
    if not isinstance(system, HasRoleLog):
        return
    changes: list[RoleChange] = []
    for node in nodes:
        folder = run_dir / store.NODES / node.name
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            try:
                with open(path, encoding="utf-8", errors="replace") as lines:
                    changes += [replace(c, time=c.time - outcome.started_epoch_ns) for c in system.role_changes(node.name, lines)]
            except Exception as e:  # an unreadable log costs the leader lane, never the verdict
                outcome.warnings.append(f"{node.name}: could not read roles from {path.name}: {e}")
    roles.write_jsonl(run_dir / store.ROLES, sorted(changes, key=lambda c: c.time))


def _teardown(system: System, nodes: list[Node], outcome: _Outcome) -> None:
    for node in nodes:
        try:
            system.teardown(node)
        except Exception as e:
            outcome.warnings.append(f"{node.name}: teardown failed: {e}")


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event, progress, outcome: _Outcome) -> Iterator[None]:
    """SIGINT/SIGTERM set `stop` (the run then heals, checks and tears down); a second one raises
    KeyboardInterrupt. Signal handlers can only be installed from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        outcome.signalled = True
        stop.set()
        progress(f"{signal.Signals(signum).name}: stopping; healing, checking what ran, tearing down (again to abort)")

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
