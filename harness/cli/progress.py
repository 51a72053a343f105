"""The live progress line of `raft-jepsen run`, on stderr:

    [  12.3/60 s]  ok 1204  fail 31  info 5  faults: kill

On a terminal it is redrawn in place (`\\r`) a few times a second; otherwise (CI logs) one line is
printed every `LOG_INTERVAL_S`, so logs stay readable. Lifecycle messages go on lines of their own;
the live line covers the workload and ends with the first message after it (healing, stopping).
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.faults import FAILED, FAULT_OPS, MOVES, SKIPPED, outcome

TTY_INTERVAL_S = 0.25
LOG_INTERVAL_S = 5.0
_ENDS = {start: stop for start, (stop, _) in FAULT_OPS.items()}


class Progress:
    def __init__(self, out: TextIO, time_limit: float, *, clock=time.monotonic):
        self._out = out
        self._tty = out.isatty()
        self._time_limit = time_limit
        self._clock = clock
        self._lock = threading.Lock()
        self._counts = {"ok": 0, "fail": 0, "info": 0}
        self._faults: list[str] = []
        self._started: float | None = None
        self._shown = False  # a redrawable line is on screen
        self._done = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="rj-progress", daemon=True)

    def __enter__(self) -> "Progress":
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._ticker.join()
        with self._lock:
            self._clear()

    def observe(self, op: Op) -> None:
        with self._lock:
            if self._started is None:
                self._started = self._clock()
            if not op.is_client:
                if op.f in _ENDS and outcome(op) in (SKIPPED, FAILED):
                    pass  # nothing happened: not a fault in force
                elif op.f in _ENDS and not (op.f in MOVES and op.f in self._faults):
                    self._faults.append(op.f)
                elif op.f in _ENDS.values():
                    self._faults = [f for f in self._faults if _ENDS[f] != op.f]
            elif op.type in self._counts:
                self._counts[op.type] += 1

    def message(self, line: str) -> None:
        """A lifecycle message on a line of its own. One that comes once the workload has begun
        (healing, interrupted) ends the live line: the counts are final from then on."""
        with self._lock:
            if self._started is not None and not self._done.is_set():
                self._done.set()
                self._clear()
                print(self.line(), file=self._out)
            self._clear()
            print(line, file=self._out, flush=True)

    def line(self) -> str:
        elapsed = 0.0 if self._started is None else self._clock() - self._started
        c = self._counts
        faults = ", ".join(self._faults) or "none"
        return f"[{elapsed:6.1f}/{self._time_limit:g} s]  ok {c['ok']}  fail {c['fail']}  info {c['info']}  faults: {faults}"

    def _tick(self) -> None:
        interval = TTY_INTERVAL_S if self._tty else LOG_INTERVAL_S
        while not self._done.wait(interval):
            with self._lock:
                if self._started is None:
                    continue  # nothing to say before the workload starts
                if self._tty:
                    self._out.write("\r" + self.line() + "\x1b[K")
                    self._shown = True
                else:
                    print(self.line(), file=self._out)
                self._out.flush()

    def _clear(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._shown = False
