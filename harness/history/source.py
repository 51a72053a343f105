"""Reading a history file, bounded by construction: what every history format reads through.

A history may come from anywhere (a killed run, another tool, an attacker), so reading it:

- streams, one line at a time, never more than `MAX_LINE_BYTES` in one line (`/dev/zero` is an
  error after a megabyte, not a MemoryError) nor `MAX_BYTES` in all;
- watches a deadline (`time.monotonic()` value), so that reading counts toward a check's
  `--timeout`: past it, `ReadDeadline`, which is a verdict of unknown, not bad input;
- tells a last line cut off mid-write (no newline at the end and not readable) from a bad line:
  `Lines.truncated` says so, and the formats stop before it, with a warning;
- refuses what no history needs and would cost us later: numbers that are not finite (`NaN`
  compares unequal to itself: a read of it would look like a lost write), integers beyond 64
  bits, values nested deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Iterator

from raft_jepsen.harness.errors import HistoryError, RaftJepsenError

MAX_BYTES = 1 << 30  # about seven million operations of ours
MAX_LINE_BYTES = 1 << 20  # an op is about 150 bytes; a value of a megabyte is no history's
MAX_DEPTH = 100  # nesting of a value: Jepsen's deepest (a transaction's micro-ops) is 3
MAX_INT = 1 << 64  # integers from -2^63 to 2^64 - 1: what any system's 64-bit values are
_CHECK_EVERY = 1024  # lines between looks at the clock


class ReadDeadline(RaftJepsenError):
    """The deadline passed while reading: the verdict is unknown (exit 2)."""

    exit_code = 2


class Lines:
    """The lines of `path` as (line number, text), bounded as the module says. After iterating,
    `truncated` is the number of a last line that had no newline, else None: the format decides
    whether that line was cut off (unreadable) or merely unterminated."""

    def __init__(self, path: str | os.PathLike, deadline: float | None = None):
        self.path = path
        self.deadline = deadline
        self.truncated: int | None = None
        self.count = 0  # lines read so far

    def __iter__(self) -> Iterator[tuple[int, str]]:
        try:
            fh = open(self.path, "rb")
        except OSError as e:
            raise HistoryError(f"{self.path}: cannot read ({e.strerror})") from None
        total = 0
        with fh:
            while True:
                try:
                    raw = fh.readline(MAX_LINE_BYTES + 1)
                except OSError as e:
                    raise HistoryError(f"{self.path}: cannot read ({e.strerror})") from None
                if not raw:
                    return
                self.count += 1
                lineno = self.count
                total += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    raise HistoryError(f"{self.path}:{lineno}: line longer than {MAX_LINE_BYTES >> 20} MB")
                if total > MAX_BYTES:
                    raise HistoryError(f"{self.path}: larger than {MAX_BYTES >> 30} GB")
                if not lineno % _CHECK_EVERY:
                    self.check_deadline()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise HistoryError(f"{self.path}:{lineno}: not a UTF-8 text file") from None
                if not text.endswith("\n"):
                    self.truncated = lineno
                yield lineno, text

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ReadDeadline(f"{self.path}: the deadline passed while reading, after {self.count:,} lines")


def truncation_warning(path: str | os.PathLike, line: int) -> str:
    return (f"{path}:{line}: the last line is incomplete (the run was killed while writing it?); "
            f"checked up to line {line - 1}")


def check_number(value: Any, where: str) -> None:
    """Raise for a number a history must not hold (see the module's docstring)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise HistoryError(f"{where}: {value} is not a finite number")
    if isinstance(value, int) and not isinstance(value, bool) and not -(MAX_INT >> 1) <= value < MAX_INT:
        raise HistoryError(f"{where}: an integer beyond 64 bits")


def check_depth(value: Any, where: str) -> None:
    """Raise when `value` (lists, tuples, sets, dicts) nests deeper than MAX_DEPTH; without
    recursion, so that any depth is a clean error."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = list(v.values()) + list(v.keys())
        elif isinstance(v, (list, tuple, set, frozenset)):
            children = v
        else:
            continue
        if depth > MAX_DEPTH:
            raise HistoryError(f"{where}: a value nested more than {MAX_DEPTH} deep")
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list, tuple, set, frozenset)))
