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

import os
import re
from typing import Any, Callable

from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.harness.history import CAS_MISMATCH, NEMESIS, TYPES, Op, pair, read_jsonl_lines

FORMATS = ("jsonl", "edn", "porcupine-etcd", "porcupine-kv")


# --- a small EDN reader -----------------------------------------------------------------------


class Keyword(str):
    """An EDN keyword, kept apart from strings while reading (`:nemesis` vs `"nemesis"`)."""


_TOKEN = re.compile(
    r"""(?P<skip>[\s,]+|;[^\n]*)
      |(?P<string>"(?:[^"\\]|\\.)*")
      |(?P<open>\#\{|[\[({])
      |(?P<close>[\])}])
      |(?P<atom>[^\s,\[\](){}";]+)""",
    re.X,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def _atom(text: str) -> Any:
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(":"):
        return Keyword(text[1:])
    if _INT.fullmatch(text):
        return int(text.rstrip("N"))
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    return text  # a symbol


class _EdnReader:
    def __init__(self, text: str, source: str):
        self.source = source
        self.tokens: list[tuple[str, str, int]] = []
        line, pos = 1, 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:  # only an unterminated string gets here
                raise HistoryError(f"{source}:{line}: unterminated string")
            kind = m.lastgroup
            if kind != "skip":
                self.tokens.append((kind, m.group(), line))
            line += m.group().count("\n")
            pos = m.end()
        self.pos = 0

    def forms(self) -> list[tuple[int, Any]]:
        """Every top-level form with the line it starts on."""
        return self._located(lambda: self.pos < len(self.tokens))

    def entries(self) -> list[tuple[int, Any]]:
        """Like forms(), but the elements of a file that is one vector, each with its line."""
        if not self.tokens or self.tokens[0][:2] != ("open", "["):
            return self.forms()
        self.pos = 1
        out = self._located(lambda: self.pos < len(self.tokens) and self.tokens[self.pos][0] != "close")
        if self.pos >= len(self.tokens) or self.tokens[self.pos][1] != "]":
            raise HistoryError(f"{self.source}:{self.tokens[0][2]}: '[' is never closed")
        if self.pos + 1 < len(self.tokens):
            raise HistoryError(f"{self.source}:{self.tokens[self.pos + 1][2]}: text after the history vector")
        return out

    def _located(self, more: Callable[[], bool]) -> list[tuple[int, Any]]:
        out = []
        while more():
            line = self.tokens[self.pos][2]
            try:
                out.append((line, self.form()))
            except RecursionError:
                raise HistoryError(f"{self.source}:{line}: nested too deeply") from None
        return out

    def form(self) -> Any:
        kind, text, line = self.tokens[self.pos]
        self.pos += 1
        if kind == "string":
            return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])
        if kind == "atom":
            if text.startswith("#") and text != "#":  # a tagged literal (#inst, #uuid): keep the value
                return self.form() if self.pos < len(self.tokens) else None
            return _atom(text)
        if kind == "close":
            raise HistoryError(f"{self.source}:{line}: unexpected {text!r}")
        items = []
        while True:
            if self.pos >= len(self.tokens):
                raise HistoryError(f"{self.source}:{line}: {text!r} is never closed")
            if self.tokens[self.pos][0] == "close":
                closer = self.tokens[self.pos][1]
                if closer != _CLOSERS[text]:
                    raise HistoryError(f"{self.source}:{self.tokens[self.pos][2]}: {closer!r} closes {text!r}")
                self.pos += 1
                break
            items.append(self.form())
        if text == "{" and len(items) % 2:
            raise HistoryError(f"{self.source}:{line}: a map needs an even number of forms")
        try:
            if text == "{":
                return dict(zip(map(_hashable, items[::2]), items[1::2]))
            if text == "#{":
                return set(map(_hashable, items))
        except TypeError:
            raise HistoryError(f"{self.source}:{line}: a map key or set element cannot be a map") from None
        return items


def _hashable(v: Any) -> Any:
    """Vectors as tuples, so that they can be map keys and set elements (maps cannot)."""
    return tuple(map(_hashable, v)) if isinstance(v, list) else v


def read_edn_forms(text: str, source: str) -> list[tuple[int, Any]]:
    """Parse EDN text into (line, form) pairs: keywords are `Keyword`, vectors and lists are
    lists, maps dicts, sets sets, nil None."""
    return _EdnReader(text, source).forms()


def _plain(v: Any) -> Any:
    """EDN data as JSON-like data: keywords become their names, sets sorted lists."""
    if isinstance(v, Keyword):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (set, frozenset)):
        return sorted((_plain(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {(str(k) if isinstance(k, Keyword) else k): _plain(x) for k, x in v.items()}
    return v


# --- Jepsen history.edn ----------------------------------------------------------------------


def _read_text(path: str | os.PathLike) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as e:
        raise HistoryError(f"{path}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not a UTF-8 text file") from None


def _op_from_map(m: Any, where: str, position: int, line: int) -> Op:
    if not isinstance(m, dict):
        raise HistoryError(f"{where}: expected an op map, got {type(m).__name__}")
    fields = {str(k): v for k, v in m.items()}
    for name in ("type", "f", "process"):
        if name not in fields:
            raise HistoryError(f"{where}: missing :{name}")
    type_ = _plain(fields["type"])
    if type_ not in TYPES:
        raise HistoryError(f"{where}: unknown type {type_!r} (expected one of {', '.join(TYPES)})")
    process = fields["process"]
    if isinstance(process, Keyword):
        process = str(process)
    elif not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(f"{where}: process must be an integer or :nemesis, got {process!r}")
    t = fields.get("time", line)
    if not isinstance(t, int) or isinstance(t, bool):
        raise HistoryError(f"{where}: time must be an integer (nanoseconds), got {t!r}")
    index = fields.get("index", position)
    if not isinstance(index, int) or isinstance(index, bool):
        raise HistoryError(f"{where}: index must be an integer, got {index!r}")
    error = fields.get("error")
    return Op(
        index=index,
        type=type_,
        process=process,
        f=str(_plain(fields["f"])),
        key=_plain(fields.get("key")),
        value=_plain(fields.get("value")),
        time=t,
        error=None if error is None else str(_plain(error)),
    )


def _edn_located(path: str | os.PathLike) -> list[tuple[int, Op]]:
    forms = _EdnReader(_read_text(path), str(path)).entries()
    return [(line, _op_from_map(m, f"{path}:{line}", n, line)) for n, (line, m) in enumerate(forms)]


def read_edn(path: str | os.PathLike) -> list[Op]:
    """A Jepsen history.edn. Times are Jepsen's `:time` (ns) when present, else line numbers."""
    return [op for _, op in _edn_located(path)]


# --- Porcupine etcd (Jepsen log lines) --------------------------------------------------------

_ETCD_LINE = re.compile(r"INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\w+)\s+:(\w+)\s+(.*?)\s*")
_ETCD_VALUE = re.compile(r"nil|-?\d+|\[\s*(-?\d+)\s+(-?\d+)\s*\]|:[\w-]+")


def _etcd_value(text: str, where: str) -> Any:
    m = _ETCD_VALUE.fullmatch(text)
    if m is None:
        raise HistoryError(f"{where}: cannot read value {text!r}")
    if text == "nil":
        return None
    if text.startswith(":"):
        return Keyword(text[1:])
    if m.group(1) is not None:
        return [int(m.group(1)), int(m.group(2))]
    return int(text)


def _porcupine_etcd_located(path: str | os.PathLike) -> list[tuple[int, Op]]:
    out: list[tuple[int, Op]] = []
    invoked: dict[int, Op] = {}
    lines = _read_text(path).splitlines()
    # Jepsen logged a timed-out read as :fail and reused its process; we record it as info,
    # so, as Jepsen does after info, that logical client continues under a fresh process id.
    renamed: dict[int, int] = {}
    fresh = 1 + max((int(m.group(1)) for m in map(_ETCD_LINE.fullmatch, lines) if m), default=-1)
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        m = _ETCD_LINE.fullmatch(line)
        if m is None:
            raise HistoryError(f"{where}: not a jepsen.util op line")
        logged, type_, f = int(m.group(1)), m.group(2), m.group(3)
        process = renamed.get(logged, logged)
        value = _etcd_value(m.group(4), where)
        if type_ not in TYPES:
            raise HistoryError(f"{where}: unknown type :{type_}")
        if f not in ("read", "write", "cas"):
            raise HistoryError(f"{where}: unknown operation :{f} (expected :read, :write or :cas)")
        error = None
        if type_ == "invoke":
            op = Op(index=len(out), type="invoke", process=process, f=f, value=value, time=lineno)
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
            op = Op(index=len(out), type=type_, process=process, f=f, value=value, time=lineno, error=error)
        out.append((lineno, op))
    return out


def read_porcupine_etcd(path: str | os.PathLike) -> list[Op]:
    return [op for _, op in _porcupine_etcd_located(path)]


# --- Porcupine kv (one EDN map per line) -----------------------------------------------------


def _porcupine_kv_located(path: str | os.PathLike) -> list[tuple[int, Op]]:
    out = []
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        forms = read_edn_forms(line, str(path))
        if len(forms) != 1:
            raise HistoryError(f"{where}: expected one op map per line")
        op = _op_from_map(forms[0][1], where, len(out), lineno)
        if op.process == NEMESIS or op.f not in ("get", "put", "append"):
            raise HistoryError(f"{where}: unknown operation {op.f!r} (expected get, put or append)")
        out.append((lineno, op))
    return out


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
    first = next((line.strip() for line in _read_text(path).splitlines() if line.strip()), "")
    if not first:
        return "jsonl"  # an empty history reads the same in every format
    if first.startswith("INFO") and "jepsen.util" in first:
        return "porcupine-etcd"
    if first.startswith("{:process"):
        return "porcupine-kv"
    if first.startswith("{\""):
        return "jsonl"
    if first.startswith(("{:", "[")):
        return "edn"
    raise UsageError(f"{path}: cannot tell the history format; pass --format ({', '.join(FORMATS)})")


_LOCATED: dict[str, Callable[[str | os.PathLike], list[tuple[int, Op]]]] = {
    "jsonl": lambda path: list(read_jsonl_lines(path)),
    "edn": _edn_located,
    "porcupine-etcd": _porcupine_etcd_located,
    "porcupine-kv": _porcupine_kv_located,
}


def load(path: str | os.PathLike, fmt: str | None = None) -> list[Op]:
    """Read a history in any format, checked well formed (pair()); every error names file:line."""
    fmt = fmt or guess_format(path)
    if fmt not in _LOCATED:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    located = _LOCATED[fmt](path)
    lines = {id(op): line for line, op in located}
    ops = [op for _, op in located]
    pair(ops, str(path), locate=lambda op: f"{path}:{lines[id(op)]}")
    return ops
