"""The history: the contract between the runner, the checkers and the reports.

One record type, `Op`, one JSON object per line (`history.jsonl`), appended and flushed as the run
goes (`HistoryWriter`: within 0.1 s) so that a killed run still leaves a checkable history. Meanings are Jepsen's:

- `invoke`: a client process starts an operation;
- `ok`: it certainly happened; `fail`: it certainly did not happen;
- `info`: nobody knows (timeout, lost connection). The process is retired and never reused.

Records whose process is the string "nemesis" describe faults (`start-partition`, `kill`, ...);
they are single `info` lines, never paired, and are ignored by the pairing rules.
`time` is nanoseconds since the run began (monotonic clock).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import IO, Any, Callable, Iterable, Iterator

from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import source

TYPES = ("invoke", "ok", "fail", "info")
NEMESIS = "nemesis"
# The error of a `fail`ed cas whose expected value did not match: the cas reached the cluster and
# certainly did not apply. Every client records a value mismatch with it, whatever its system
# calls it, and the models and key rotation read it.
CAS_MISMATCH = "cas-mismatch"
_OPTIONAL = ("key", "node", "error")
_FIELDS = frozenset({"index", "type", "process", "f", "key", "value", "time", "node", "error"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    index: int
    type: str
    process: int | str
    f: str
    key: Any = None
    value: Any = None
    time: int = 0
    node: str | None = None  # which node the client talked to, when known
    error: str | None = None  # why a fail or info ended that way

    def to_json(self) -> str:
        # Built by hand, not with dataclasses.asdict: that deep-copies every value and was most of
        # the cost of recording an op (bench/harness_throughput.py).
        d = {"index": self.index, "type": self.type, "process": self.process, "f": self.f, "key": self.key,
             "value": self.value, "time": self.time, "node": self.node, "error": self.error}
        for name in _OPTIONAL:
            if d[name] is None:
                del d[name]
        return json.dumps(d, separators=(", ", ": "))

    def replace(self, **changes: Any) -> "Op":
        """`dataclasses.replace(self, **changes)`, in half the time (it is on the path of every op)."""
        if not _FIELDS.issuperset(changes):
            raise TypeError(f"Op has no field {sorted(set(changes) - _FIELDS)[0]!r}")
        get = changes.get
        return Op(index=get("index", self.index), type=get("type", self.type), process=get("process", self.process),
                  f=get("f", self.f), key=get("key", self.key), value=get("value", self.value),
                  time=get("time", self.time), node=get("node", self.node), error=get("error", self.error))

    @property
    def is_client(self) -> bool:
        return self.process != NEMESIS

    def completed(self, type: str, **changes: Any) -> "Op":
        """The completion of this invocation (index and time are the caller's to set)."""
        return self.replace(type=type, **changes)


@dataclass(frozen=True, slots=True)
class Call:
    """An invocation and its completion (None while still open at the end of the history)."""

    invoke: Op
    complete: Op | None = field(default=None)

    @property
    def type(self) -> str:
        """ok / fail / info; an op never completed counts as info (it may have happened)."""
        return self.complete.type if self.complete is not None else "info"


def op_from_dict(d: dict, where: str = "") -> Op:
    """Build an Op from a decoded JSON object, with one-line errors naming `where`."""
    if not isinstance(d, dict):
        raise HistoryError(f"{where}: expected a JSON object, got {type(d).__name__}")
    missing = [k for k in ("type", "process", "f") if k not in d]
    if missing:
        raise HistoryError(f"{where}: missing field {missing[0]!r}")
    unknown = set(d) - {"index", "type", "process", "f", "key", "value", "time", "node", "error"}
    if unknown:
        raise HistoryError(f"{where}: unknown field {_short(sorted(unknown)[0])}")
    if d["type"] not in TYPES:
        raise HistoryError(f"{where}: unknown type {_short(d['type'])} (expected one of {', '.join(TYPES)})")
    process = d["process"]
    if not (_is_int(process) or (isinstance(process, str) and process and len(process) <= 100)):
        raise HistoryError(f"{where}: process must be an integer or \"nemesis\", got {_short(process)}")
    if not isinstance(d["f"], str) or not d["f"] or len(d["f"]) > 100 or not d["f"].isprintable():
        raise HistoryError(f"{where}: f must be a name (a string), got {_short(d['f'])}")
    time = d.get("time", 0)
    if not _is_int(time):
        raise HistoryError(f"{where}: time must be an integer (nanoseconds), got {_short(time)}")
    index = d.get("index", -1)
    if not _is_int(index) or ("index" in d and index < 0):
        raise HistoryError(f"{where}: index must be an integer from 0, got {_short(index)}")
    for name in ("node", "error"):
        if d.get(name) is not None and not isinstance(d[name], str):
            raise HistoryError(f"{where}: {name} must be a string, got {_short(d[name])}")
    return Op(
        index=index,
        type=d["type"],
        process=process,
        f=d["f"],
        key=d.get("key"),
        value=d.get("value"),
        time=time,
        node=d.get("node"),
        error=d.get("error"),
    )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any, limit: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_jsonl(
    path: str | os.PathLike, *, deadline: float | None = None, warn: Callable[[str], None] | None = None
) -> Iterator[Op]:
    """Stream ops from a history.jsonl; blank lines are skipped, indexes filled in if absent.

    Bounded as `history.source` says (size, line length, `deadline`: a `time.monotonic()` value).
    A last line cut off mid-write (the run was killed) ends the history there, with a warning to
    `warn`; without `warn` it is an error like any other. Errors name the file and the line."""
    for _, op in read_jsonl_lines(path, deadline=deadline, warn=warn):
        yield op


def read_jsonl_lines(
    path: str | os.PathLike, *, deadline: float | None = None, warn: Callable[[str], None] | None = None
) -> Iterator[tuple[int, Op]]:
    """read_jsonl, with the line number of each op (for errors found later, e.g. by pair())."""
    lines = source.Lines(path, deadline)
    last = -1
    for lineno, line in lines:
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            d = _DECODER.decode(line)
        except (json.JSONDecodeError, HistoryError) as e:
            if lines.truncated == lineno and warn is not None:
                warn(source.truncation_warning(path, lineno))
                return
            if isinstance(e, HistoryError):
                raise HistoryError(f"{where}: {e}") from None
            raise HistoryError(f"{where}: malformed JSON ({e.msg})") from None
        except RecursionError:
            raise HistoryError(f"{where}: a value nested too deeply") from None
        op = op_from_dict(d, where)
        for name in ("key", "value"):
            v = getattr(op, name)
            source.check_depth(v, f"{where}: {name}")
            _check_numbers(v, f"{where}: {name}")
        if op.index < 0:
            op = replace(op, index=last + 1)
        elif op.index <= last:
            raise HistoryError(f"{where}: index {op.index} after index {last}: indexes must increase")
        last = op.index
        yield lineno, op


def _no_constant(name: str) -> Any:
    raise HistoryError(f"{name} is not a finite number")


def _bounded_int(text: str) -> int:
    if len(text) > 21:  # 2^64 has 20 digits; int() of thousands of digits is refused by Python
        raise HistoryError("an integer beyond 64 bits")
    return int(text)


# one decoder for every line: json.loads with these options would build a new one per line
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_int=_bounded_int)


def _check_numbers(value: Any, where: str) -> None:
    """Floats that overflowed to infinity (1e400) and ints beyond 64 bits, anywhere in a value."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        else:
            source.check_number(v, where)


class HistoryWriter:
    """Appends ops to history.jsonl, assigning indexes in order. Lines reach the file at most
    `flush_s` after they were appended, and at once on `flush()` (the interpreter calls it
    whenever it is about to wait): a flush per line was a system call per op and a hand-over of
    the GIL to the workers, a third of what recording cost. A killed run loses at most the last
    `flush_s` of records, and a torn last line is tolerated by every reader (`source`)."""

    def __init__(self, path: str | os.PathLike, flush_s: float = 0.1):
        self.path = path
        self._fh: IO[str] = open(path, "a", encoding="utf-8")
        self._next = 0
        self._flush_s = flush_s
        self._flushed = time.monotonic()

    def append(self, op: Op) -> Op:
        op = op.replace(index=self._next)
        self._next += 1
        self._fh.write(op.to_json() + "\n")
        if time.monotonic() - self._flushed >= self._flush_s:
            self.flush()
        return op

    def flush(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike, ops: Iterable[Op]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for op in ops:
            fh.write(op.to_json() + "\n")


def pair(
    history: Iterable[Op], source: str = "history", locate: Callable[[Op], str] | None = None
) -> list[Call]:
    """Pair each client invocation with its completion, in invocation order, validating as we go.

    Raises HistoryError for a completion without an invocation, a completion of another
    function than the one invoked, a second invocation while one is outstanding on the same
    process, and a process reused after it ended `info`. Errors start with `locate(op)` (e.g.
    file:line) when given, else "<source>: op <index>"."""
    calls: list[Call | None] = []
    open_: dict[Any, int] = {}
    retired: set[Any] = set()
    for op in history:
        if not op.is_client:
            continue
        where = locate(op) if locate else f"{source}: op {op.index}"
        if op.type == "invoke":
            if op.process in open_:
                prev = calls[open_[op.process]]
                raise HistoryError(
                    f"{where}: process {op.process} invokes {op.f} while op {prev.invoke.index} is outstanding"
                )
            if op.process in retired:
                raise HistoryError(f"{where}: process {op.process} reused after an info completion")
            open_[op.process] = len(calls)
            calls.append(Call(op))
        else:
            if op.process not in open_:
                raise HistoryError(f"{where}: {op.type} {op.f} on process {op.process} without an invocation")
            i = open_.pop(op.process)
            if op.f != calls[i].invoke.f:
                raise HistoryError(f"{where}: {op.type} {op.f} completes {calls[i].invoke.f} op {calls[i].invoke.index}")
            calls[i] = Call(calls[i].invoke, op)
            if op.type == "info":
                retired.add(op.process)
    return calls  # type: ignore[return-value]


def validate(history: Iterable[Op], source: str = "history") -> None:
    pair(history, source)
