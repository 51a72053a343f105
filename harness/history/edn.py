"""A small, strict, streaming EDN reader: what Jepsen and Knossos write, and nothing unbounded.

Jepsen's `history.edn` is one op map a line (`prn` of each op; older versions printed the op
records as `#jepsen.history.Op{...}`); Knossos's test data and older Jepsen runs hold the whole
history as one vector `[ ... ]` or list `( ... )`, maps spread over several lines, with `;`
comments. All of these read here, element by element, as the file streams by: a history of
millions of ops is never one token list or one nested structure in memory, and the parser keeps
its own stack (no recursion: any nesting is a clean error past `MAX_DEPTH`).

Values: keywords are `Keyword` (a str), vectors and lists Python lists, maps dicts (vector keys
as tuples), sets sets, nil None, `\\c` characters strings, ratios floats; a tagged value
(`#inst "..."`, `#uuid "..."`, `#jepsen.history.Op{...}`, `#:ns{...}`) is its value; `#_`
discards the next form. Refused, one line naming file:line: `##NaN` and `##Inf`, floats that
overflow, integers beyond 64 bits, maps with an odd number of forms or a duplicate key, a map as
a map key, unterminated strings and collections, a closer that does not match.

edn-format (PyPI) was considered: it parses a whole string at once through an LALR table
(PLY), so it neither streams nor bounds a file, and its values still need the checks above.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history.source import MAX_DEPTH, MAX_LINE_BYTES, Lines, check_number


class Unterminated(HistoryError):
    """The text ended inside a form: a file cut off while being written, or a missing closer."""


class Keyword(str):
    """An EDN keyword, kept apart from strings while reading (`:nemesis` vs `"nemesis"`)."""


_TOKEN = re.compile(
    r"""(?P<skip>[\s,]+|;[^\n]*)
      |(?P<string>"(?:[^"\\]|\\.)*")
      |(?P<open>\#\{|[\[({])
      |(?P<close>[\])}])
      |(?P<atom>[^\s,\[\](){}";]+)""",
    re.X | re.S,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_RATIO = re.compile(r"([+-]?\d{1,20})/(\d{1,20})")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "backspace": "\b", "formfeed": "\f"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
_DISCARD, _TAG = "#_", "#"  # frames that take the next form: drop it, or pass it through


def tokens(lines: Iterable[tuple[int, str]], source: str) -> Iterator[tuple[str, str, int]]:
    """(kind, text, line) for every token of the lines; a string may span lines."""
    buf, pos, line = "", 0, 1
    feed = iter(lines)
    while True:
        if pos >= len(buf):
            nxt = next(feed, None)
            if nxt is None:
                return
            line, buf = nxt
            pos = 0
        m = _TOKEN.match(buf, pos)
        if m is None:  # only an unterminated string fails to match: it goes on on the next line
            nxt = next(feed, None)
            if nxt is None:
                raise Unterminated(f"{source}:{line}: unterminated string")
            buf, pos = buf[pos:] + nxt[1], 0
            if len(buf) > MAX_LINE_BYTES:
                raise HistoryError(f"{source}:{line}: a string longer than {MAX_LINE_BYTES >> 20} MB")
            continue
        kind = m.lastgroup
        if kind != "skip":
            yield kind, m.group(), line
        line += m.group().count("\n")
        pos = m.end()


def _string(text: str) -> str:
    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", lambda m: chr(int(m.group(1)[1:], 16)) if len(m.group(1)) == 5
                  else _ESCAPES.get(m.group(1), m.group(1)), text[1:-1], flags=re.S)


def atom(text: str, where: str) -> Any:
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(":"):
        return Keyword(text[1:])
    if text.startswith("\\"):
        return _CHARS.get(text[1:], text[1:])
    if text.startswith("##"):
        raise HistoryError(f"{where}: {text} is not a finite number")
    if _INT.fullmatch(text):
        digits = text.rstrip("N").lstrip("+-")
        if len(digits) > 20:
            raise HistoryError(f"{where}: an integer beyond 64 bits")
        value: Any = int(text.rstrip("N"))
    elif _FLOAT.fullmatch(text):
        value = float(text.rstrip("M")) if len(text) <= 400 else float("inf")
    elif m := _RATIO.fullmatch(text):
        if int(m.group(2)) == 0:
            raise HistoryError(f"{where}: {text} divides by zero")
        value = int(m.group(1)) / int(m.group(2))
    else:
        return text  # a symbol
    check_number(value, where)
    return value


def _key(v: Any, where: str) -> Any:
    """A map key or set element, hashable: vectors as tuples, sets as frozensets."""
    if isinstance(v, list):
        return tuple(_key(x, where) for x in v)
    if isinstance(v, set):
        return frozenset(v)
    if isinstance(v, dict):
        raise HistoryError(f"{where}: a map cannot be a map key or a set element")
    return v


class _Frame:
    __slots__ = ("opener", "items", "line")

    def __init__(self, opener: str, line: int):
        self.opener, self.items, self.line = opener, [], line


def _close(frame: _Frame, source: str) -> Any:
    where = f"{source}:{frame.line}"
    if frame.opener == "{":
        if len(frame.items) % 2:
            raise HistoryError(f"{where}: a map needs an even number of forms")
        out: dict = {}
        for k, v in zip(frame.items[::2], frame.items[1::2]):
            k = _key(k, where)
            if k in out:
                raise HistoryError(f"{where}: duplicate map key {str(k)[:40]!r}")
            out[k] = v
        return out
    if frame.opener == "#{":
        return {_key(x, where) for x in frame.items}
    return frame.items


def forms(toks: Iterable[tuple[str, str, int]], source: str, *, entries: bool = False) -> Iterator[tuple[int, Any]]:
    """Every top-level form, with the line it starts on. With `entries`, a file that is one
    vector or list yields that collection's elements instead (a whole Jepsen history)."""
    stack: list[_Frame] = []
    root: _Frame | None = None  # the collection whose elements are the entries
    root_closed = False
    first = True
    for kind, text, line in toks:
        where = f"{source}:{line}"
        if root_closed:
            raise HistoryError(f"{where}: text after the history's closing {_CLOSERS[root.opener]!r}")
        if first and entries and kind == "open" and text in ("[", "("):
            root = _Frame(text, line)
            first = False
            continue
        first = False
        if kind == "open" or (kind == "atom" and text.startswith("#") and not text.startswith("##")):
            opener = "#_" if text == "#_" else (_TAG if kind == "atom" else text)
            if len(stack) >= MAX_DEPTH:
                raise HistoryError(f"{where}: nested more than {MAX_DEPTH} deep")
            stack.append(_Frame(opener, line))
            continue
        if kind == "close":
            if not stack or stack[-1].opener in (_TAG, _DISCARD):
                if root is not None and not stack and text == _CLOSERS[root.opener]:
                    root_closed = True
                    continue
                raise HistoryError(f"{where}: unexpected {text!r}")
            frame = stack.pop()
            if _CLOSERS[frame.opener] != text:
                raise HistoryError(f"{where}: {text!r} closes {frame.opener!r} of line {frame.line}")
            value = _close(frame, source)
            start = frame.line
        elif kind == "string":
            value, start = _string(text), line
        else:
            value, start = atom(text, where), line
        # a finished form: through any pending tags and discards, into its parent or out
        keep = True
        while stack and stack[-1].opener in (_TAG, _DISCARD):
            frame = stack.pop()
            keep = keep and frame.opener == _TAG
            start = frame.line
        if not keep:
            continue
        if stack:
            stack[-1].items.append(value)
        else:
            yield start, value
    if stack:
        frame = stack[-1]
        if frame.opener in (_TAG, _DISCARD):
            raise Unterminated(f"{source}:{frame.line}: a tag without a value")
        raise Unterminated(f"{source}:{frame.line}: {frame.opener!r} is never closed")
    if root is not None and not root_closed:
        raise Unterminated(f"{source}:{root.line}: {root.opener!r} is never closed")


def read_file(lines: Lines, source: str) -> Iterator[tuple[int, Any]]:
    """The entries of an EDN history file: the elements of a top-level vector or list, or
    every top-level form."""
    return forms(tokens(lines, source), source, entries=True)


def read_text(text: str, source: str, line: int = 1) -> list[tuple[int, Any]]:
    """Every top-level form of a small text (one line of a Porcupine log)."""
    return list(forms(tokens([(line, text)], source), source))
