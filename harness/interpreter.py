"""The interpreter: runs generators against a live system (Jepsen's generator/interpreter.clj).

One worker thread per client thread plus one for the nemesis. The main loop asks the generator
for the next op, waits until it is due, hands it to its thread's worker and records the
invocation; workers hand back completions, which the loop records. All history writes happen on
the main loop, so `history.jsonl` is in order of time.

What is recorded (harness/history.py):
- a client op: its invocation, then ok / fail / info as the client says; a client that raises
  gives `info` with the error (it may have acted), a client that cannot even be opened gives
  `fail` (nothing was sent); an `info` retires the process (the scheduler's rule);
- a fault op: one `info` line with what the nemesis did, stamped when it returned;
- sleeps: nothing.

A stop request (the `stop` event: SIGINT/SIGTERM, set by the runner) ends `run` within
`poll_s`: ops still outstanding are recorded as `info` ("interrupted"), since they may yet act.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from raft_jepsen.harness.generator.core import (
    EXHAUSTED,
    NEMESIS_THREAD,
    NS,
    PENDING,
    SLEEP,
    Generator,
    Thread,
)
from raft_jepsen.harness.generator.scheduler import Scheduler
from raft_jepsen.harness.history import NEMESIS, HistoryWriter, Op
from raft_jepsen.harness.nemesis.base import Nemesis
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.base import Client

OpenClient = Callable[[Node], Client]
CLOSE_WAIT_S = 5.0


class Interpreter:
    def __init__(
        self,
        *,
        nodes: list[Node],
        open_client: OpenClient,
        nemesis: Nemesis,
        writer: HistoryWriter,
        concurrency: int,
        seed: int,
        clock: Callable[[], int],
        stop: threading.Event,
        observer: Callable[[Op], None] = lambda op: None,
        poll_s: float = 0.1,
    ):
        self._nodes = {n.name: n for n in nodes}
        self._node_names = [n.name for n in nodes]
        self._open_client = open_client
        self._nemesis = nemesis
        self._writer = writer
        self._clock = clock  # ns since the run began
        self._stop = stop
        self._observer = observer
        self._poll_s = poll_s
        self._scheduler = Scheduler(EXHAUSTED, concurrency=concurrency, seed=seed)
        self._done: queue.Queue = queue.Queue()  # (thread, completion) from the workers
        self._inboxes: dict[Thread, queue.Queue] = {}
        self._workers: list[threading.Thread] = []
        for thread in self._scheduler.threads:
            inbox: queue.Queue = queue.Queue()
            worker = threading.Thread(target=self._work, args=(thread, inbox), name=f"rj-worker-{thread}", daemon=True)
            self._inboxes[thread] = inbox
            self._workers.append(worker)
            worker.start()

    # -- main loop ------------------------------------------------------------------------------

    def run(self, gen: Generator) -> bool:
        """Run `gen` to its end; True if it finished, False if stopped (outstanding ops → info)."""
        self._scheduler.gen = gen
        while not self._stop.is_set():
            self._collect(timeout=0)
            answer = self._scheduler.ask(self._clock())
            if answer is None and not self._scheduler.busy:
                return True
            if answer is None or answer is PENDING:
                self._collect(timeout=self._poll_s)
                continue
            wait_ns = answer[0].time - self._clock()
            if wait_ns > 0:  # not due yet: a completion meanwhile may change the answer
                self._collect(timeout=min(wait_ns / NS, self._poll_s))
                continue
            thread, op = self._scheduler.dispatch(answer, self._clock())
            if op.f != SLEEP and thread != NEMESIS_THREAD:
                self._record(op)
            self._inboxes[thread].put(op)
        self._abandon_outstanding()
        return False

    def _collect(self, timeout: float) -> None:
        """Record the completions that arrive within `timeout` seconds (0: those already here)."""
        if timeout > 0:
            self._writer.flush()  # idle for a moment: what is recorded so far reaches the file
        try:
            item = self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait()
        except queue.Empty:
            return
        while True:
            thread, completion = item
            completion = self._scheduler.complete(thread, completion, self._clock())
            if completion.f != SLEEP:
                self._record(completion)
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return

    def _abandon_outstanding(self) -> None:
        for thread in list(self._scheduler.busy):
            op = self._scheduler.abandon(thread)
            if op.f != SLEEP and thread != NEMESIS_THREAD:
                self._record(op.completed("info", time=self._clock(), error="interrupted"))

    def _record(self, op: Op) -> None:
        self._observer(self._writer.append(op))

    def close(self) -> None:
        """Stop the workers; each closes its clients. Workers still in a call get `CLOSE_WAIT_S`
        in all for their clients' own timeouts to fire; a worker stuck beyond that is left
        behind (a daemon thread) rather than holding up healing and teardown."""
        for inbox in self._inboxes.values():
            inbox.put(None)
        deadline = time.monotonic() + CLOSE_WAIT_S
        for worker in self._workers:
            worker.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- workers --------------------------------------------------------------------------------

    def _work(self, thread: Thread, inbox: queue.Queue) -> None:
        clients: dict[str, tuple[object, Client]] = {}  # node -> (process, client): one per process
        try:
            while (op := inbox.get()) is not None:
                if op.f == SLEEP:
                    self._stop.wait(op.value / NS)
                    done = op.completed("ok")
                elif thread == NEMESIS_THREAD:
                    done = self._fault(op)
                else:
                    done = self._call(op, clients)
                self._done.put((thread, done))
        finally:
            for _, client in clients.values():
                _close_quietly(client)

    def _fault(self, op: Op) -> Op:
        try:
            done = self._nemesis.invoke(op)
        except Exception as e:  # recorded, never a crashed run here (the runner then stops the run)
            return op.completed("info", value={"outcome": "failed"}, error=f"nemesis failed: {_describe(e)}")
        if not isinstance(done, Op):
            return op.completed("info", value={"outcome": "failed"},
                                error=f"nemesis returned {type(done).__name__}, not an Op")
        return done.replace(type="info", process=NEMESIS)

    def _call(self, op: Op, clients: dict) -> Op:
        node = op.node or self._node_names[op.process % len(self._node_names)]
        held = clients.get(node)
        if held is not None and held[0] != op.process:  # a retired process's client is not reused
            _close_quietly(held[1])
            held = None
        if held is None:
            if node not in self._nodes:
                return op.completed("fail", node=node, error=f"no node {node} in this cluster")
            try:
                client = self._open_client(self._nodes[node])
            except Exception as e:  # nothing was sent: certainly did not happen
                clients.pop(node, None)
                return op.completed("fail", node=node, error=f"no client: {_describe(e)}")
            held = clients[node] = (op.process, client)
        try:
            done = held[1].invoke(op)
        except Exception as e:  # it may have acted before failing: unknown
            return op.completed("info", node=node, error=_describe(e))
        if not isinstance(done, Op) or done.type not in ("ok", "fail", "info"):  # say so, never hang
            return op.completed("info", node=node, error=f"client returned {getattr(done, 'type', done)!r}, not a completion")
        return done.replace(process=op.process, f=op.f, key=op.key, node=done.node or node)


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _close_quietly(client: Client) -> None:
    try:
        client.close()
    except Exception:  # closing a broken client must not hide the op's own outcome
        pass
