"""Importers: histories recorded by other tools, read into our `Op` records.

- Jepsen `history.edn`: a vector of op maps, or one map per line (`{:type :invoke, :f :read,
  :value nil, :process 0, :time 123, :index 0}`), read with the small EDN reader below;
- Porcupine's test data (`tests/data/porcupine/README.md` describes both formats exactly):
  `porcupine-etcd` (Jepsen `jepsen.util` log lines of one etcd register) and `porcupine-kv`
  (one EDN map per line, string keys and values). They have no timestamps: line order is
  time, so an op's `time` is its line number.

Porcupine's meanings are kept: `:info` leaves an op open to the end (we record the `info`
completion, which the checker treats the same way); `:fail :read :timed-out` is indeterminate,
so it becomes `info`; `:fail :cas` observed "value != old" and carries `error: cas-mismatch`.
Every error names file:line.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Callable, Iterator

from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.harness.history import CAS_MISMATCH, NEMESIS, TYPES, Op, edn, pair, read_jsonl_lines
from raft_jepsen.harness.history.edn import Keyword
from raft_jepsen.harness.history.source import Lines, truncation_warning

FORMATS = ("jsonl", "edn", "porcupine-etcd", "porcupine-kv")


# --- Jepsen history.edn ----------------------------------------------------------------------


def _plain(v: Any, where: str) -> Any:
    """EDN data as JSON-like data: keywords become their names, sets sorted lists, map keys
    strings (as JSON has them: `{1 2}` reads as {"1": 2})."""
    if isinstance(v, Keyword):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x, where) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x, where) for x in v), key=repr)
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            name = _key_text(k, where)
            if name in out:
                raise HistoryError(f"{where}: two map keys read as {name[:40]!r}")
            out[name] = _plain(x, where)
        return out
    return v


def _key_text(k: Any, where: str) -> str:
    if isinstance(k, str):
        return str(k)
    return json.dumps(_plain(k, where), separators=(",", ":"))


_OP_KEYS = ("type", "f", "process")


def _op_from_map(m: Any, where: str, position: int, line: int) -> Op:
    if not isinstance(m, dict):
        raise HistoryError(f"{where}: expected an op map, got {_kind(m)}")
    fields = {str(k): v for k, v in m.items() if isinstance(k, str)}
    for name in _OP_KEYS:
        if name not in fields:
            raise HistoryError(f"{where}: an op map without :{name} ({_short_map(m)})")
    type_ = fields["type"]
    if not isinstance(type_, str) or type_ not in TYPES:
        raise HistoryError(f"{where}: unknown type {_show(type_)} (expected one of {', '.join(TYPES)})")
    process = fields["process"]
    if isinstance(process, Keyword) and 0 < len(process) <= 100:
        process = str(process)
    elif not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(f"{where}: :process must be an integer or :nemesis, got {_show(process)}")
    f = fields["f"]
    if not isinstance(f, str) or not f or len(f) > 100:
        raise HistoryError(f"{where}: :f must be a keyword, got {_show(f)}")
    t = fields.get("time", line)
    if not isinstance(t, int) or isinstance(t, bool):
        raise HistoryError(f"{where}: :time must be an integer (nanoseconds), got {_show(t)}")
    index = fields.get("index", position)
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise HistoryError(f"{where}: :index must be an integer from 0, got {_show(index)}")
    error = fields.get("error")
    return Op(
        index=index,
        type=str(type_),
        process=process,
        f=str(f),
        key=_plain(fields.get("key"), where),
        value=_plain(fields.get("value"), where),
        time=t,
        error=None if error is None else str(_plain(error, where))[:1000],
    )


def _kind(v: Any) -> str:
    return {list: "a vector or list", dict: "a map", set: "a set", Keyword: "a keyword", str: "a string",
            type(None): "nil", bool: "a boolean"}.get(type(v), type(v).__name__)


def _show(v: Any) -> str:
    text = f":{v}" if isinstance(v, Keyword) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _short_map(m: dict) -> str:
    text = "{" + ", ".join(f"{_show(k)} {_show(v)}" for k, v in list(m.items())[:6]) + "}"
    return text if len(text) <= 120 else text[:117] + "..."


def _edn_located(path: str | os.PathLike, deadline: float | None = None,
                 warn: Callable[[str], None] | None = None) -> Iterator[tuple[int, Op]]:
    lines = Lines(path, deadline)
    last = -1
    try:
        for n, (line, m) in enumerate(edn.read_file(lines, str(path))):
            op = _op_from_map(m, f"{path}:{line}", last + 1, line)
            if "index" in {str(k) for k in m} and op.index <= last:
                raise HistoryError(f"{path}:{line}: :index {op.index} after :index {last}: indexes must increase")
            last = op.index
            yield line, op
    except edn.Unterminated:
        if lines.truncated is None or warn is None:
            raise
        warn(truncation_warning(path, lines.truncated))


def read_edn(path: str | os.PathLike) -> list[Op]:
    """A Jepsen history.edn. Times are Jepsen's `:time` (ns) when present, else line numbers."""
    return [op for _, op in _edn_located(path)]


# --- Porcupine etcd (Jepsen log lines) --------------------------------------------------------

_ETCD_LINE = re.compile(r"INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*")
_ETCD_VALUE = re.compile(r"nil|-?\d+|\[\s*(-?\d+)\s+(-?\d+)\s*\]|:[\w-]+")


def _etcd_value(text: str, where: str) -> Any:
    m = _ETCD_VALUE.fullmatch(text)
    if m is None:
        raise HistoryError(f"{where}: cannot read value {text[:60]!r}")
    if text == "nil":
        return None
    if text.startswith(":"):
        return Keyword(text[1:])
    if m.group(1) is not None:
        return [edn.atom(m.group(1), where), edn.atom(m.group(2), where)]
    return edn.atom(text, where)


def _porcupine_etcd_located(path: str | os.PathLike, deadline: float | None = None,
                            warn: Callable[[str], None] | None = None) -> Iterator[tuple[int, Op]]:
    n = 0
    invoked: dict[int, Op] = {}
    # Jepsen logged a timed-out read as :fail and reused its process; we record it as info,
    # so, as Jepsen does after info, that logical client continues under a fresh process id
    # (above any process id the log uses: a scan first, bounded like the reading itself).
    renamed: dict[int, int] = {}
    fresh = 1 + max((int(m.group(1)) for _, line in Lines(path, deadline) if (m := _ETCD_LINE.fullmatch(line.rstrip("\n")))
                     and len(m.group(1)) <= 18), default=-1)
    lines = Lines(path, deadline)
    for lineno, line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        m = _ETCD_LINE.fullmatch(line)
        if m is None or len(m.group(1)) > 18:
            if lines.truncated == lineno and warn is not None:
                warn(truncation_warning(path, lineno))
                return
            raise HistoryError(f"{where}: not a jepsen.util op line")
        logged, type_, f = int(m.group(1)), m.group(2), m.group(3)
        process = renamed.get(logged, logged)
        value = _etcd_value(m.group(4), where)
        if type_ not in TYPES:
            raise HistoryError(f"{where}: unknown type :{type_[:40]}")
        if f not in ("read", "write", "cas"):
            raise HistoryError(f"{where}: unknown operation :{f[:40]} (expected :read, :write or :cas)")
        error = None
        if type_ == "invoke":
            op = Op(index=n, type="invoke", process=process, f=f, value=value, time=lineno)
            invoked[process] = op
        else:
            inv = invoked.pop(process, None)
            if inv is None or inv.f != f:
                raise HistoryError(f"{where}: :{type_} :{f} on process {process} without an invocation")
            if isinstance(value, Keyword):  # :timed-out: the outcome is unknown
                if type_ == "fail":
                    renamed[logged], fresh = fresh, fresh + 1
                type_, error, value = "info", str(value), inv.value
            elif type_ == "fail" and f == "cas":
                error = CAS_MISMATCH
            op = Op(index=n, type=type_, process=process, f=f, value=value, time=lineno, error=error)
        n += 1
        yield lineno, op


def read_porcupine_etcd(path: str | os.PathLike) -> list[Op]:
    return [op for _, op in _porcupine_etcd_located(path)]


# --- Porcupine kv (one EDN map per line) -----------------------------------------------------


def _porcupine_kv_located(path: str | os.PathLike, deadline: float | None = None,
                          warn: Callable[[str], None] | None = None) -> Iterator[tuple[int, Op]]:
    n = 0
    lines = Lines(path, deadline)
    for lineno, line in lines:
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            forms = edn.read_text(line, str(path), lineno)
        except edn.Unterminated:
            if lines.truncated == lineno and warn is not None:
                warn(truncation_warning(path, lineno))
                return
            raise
        if len(forms) != 1:
            raise HistoryError(f"{where}: expected one op map per line")
        op = _op_from_map(forms[0][1], where, n, lineno)
        if op.process == NEMESIS or op.f not in ("get", "put", "append"):
            raise HistoryError(f"{where}: unknown operation {op.f!r} (expected get, put or append)")
        n += 1
        yield lineno, op


def read_porcupine_kv(path: str | os.PathLike) -> list[Op]:
    return [op for _, op in _porcupine_kv_located(path)]


# --- any format -------------------------------------------------------------------------------


def guess_format(path: str | os.PathLike) -> str:
    """From the extension, else from the first non-blank line."""
    name = str(path)
    if name.endswith(".jsonl"):
        return "jsonl"
    if name.endswith(".edn"):
        return "edn"
    first = next((line.strip() for _, line in Lines(path) if line.strip()), "")
    if not first:
        return "jsonl"  # an empty history reads the same in every format
    if first.startswith("INFO") and "jepsen.util" in first:
        return "porcupine-etcd"
    if first.startswith("{:process"):
        return "porcupine-kv"
    if first.startswith("{\""):
        return "jsonl"
    if first.startswith(("{:", "[", "(", ";", "#")):
        return "edn"
    raise UsageError(f"{path}: cannot tell the history format; pass --format ({', '.join(FORMATS)})")


_LOCATED: dict[str, Callable[..., Iterator[tuple[int, Op]]]] = {
    "jsonl": read_jsonl_lines,
    "edn": _edn_located,
    "porcupine-etcd": _porcupine_etcd_located,
    "porcupine-kv": _porcupine_kv_located,
}


def load(path: str | os.PathLike, fmt: str | None = None, *, deadline: float | None = None,
         warn: Callable[[str], None] | None = None) -> list[Op]:
    """Read a history in any format, checked well formed (pair()); every error names file:line.

    Reading streams and is bounded (`history.source`); past `deadline` (a `time.monotonic()`
    value) it raises `ReadDeadline`. A last line cut off mid-write ends the history before it,
    with a warning to `warn` (without `warn`, an error)."""
    fmt = fmt or guess_format(path)
    if fmt not in _LOCATED:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    lines: dict[int, int] = {}
    ops = []
    for line, op in _LOCATED[fmt](path, deadline=deadline, warn=warn):
        lines[id(op)] = line
        ops.append(op)
    pair(ops, str(path), locate=lambda op: f"{path}:{lines[id(op)]}")
    return ops


def read_edn_forms(text: str, source: str) -> list[tuple[int, Any]]:
    """Parse EDN text into (line, form) pairs: keywords are `Keyword`, vectors and lists are
    lists, maps dicts, sets sets, nil None."""
    return edn.read_text(text, source)
