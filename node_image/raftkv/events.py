"""The node's event log: one JSON object per line on stderr, always with `ts`, `node`, `event`.

The harness redirects stderr to /var/log/rj/node.log and reads `role` events to place leader
changes on a run's time line (docs/architecture.md).

`ts` is the kernel's wall clock read by a raw system call, past libc: the harness's clock faults
move the node's `time.time()` through libfaketime (which replaces libc's clock functions), and
the log must keep true time for the run's time line while the node itself is fooled."""

from __future__ import annotations

import ctypes
import json
import os
import sys
import time

_SYS_CLOCK_GETTIME = {"x86_64": 228, "aarch64": 113}.get(os.uname().machine)
_CLOCK_REALTIME = 0


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _syscall():
    try:
        return ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None


_SYSCALL = _syscall() if _SYS_CLOCK_GETTIME is not None else None


def true_time() -> float:
    """Epoch seconds from the kernel (time.time() where no raw call is known)."""
    if _SYSCALL is not None:
        ts = _Timespec()
        if _SYSCALL(_SYS_CLOCK_GETTIME, _CLOCK_REALTIME, ctypes.byref(ts)) == 0:
            return ts.tv_sec + ts.tv_nsec / 1e9
    return time.time()


def emit(node: str, event: str, **fields) -> None:
    record = {"ts": true_time(), "node": node, "event": event, **fields}
    sys.stderr.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stderr.flush()
