"""The list-append checker (the simple, cycle-free part of Elle's list-append analysis).

Each key holds a list; `append` adds a value that no other append uses, `read` returns the whole
list. Unique values make every read say exactly which appends it saw and in what order, so four
anomalies can be read straight off the history, per key:

- duplicate: a read holds a value twice (a retried append applied twice: no client dedup);
- garbage: a read holds a value never appended, or whose append definitely failed
  (each duplicate or garbage value is reported once, with the first read that shows it);
- lost: an acknowledged append is missing from a read that began after the append completed
  (the final reads of every node, after healing, matter most: the write is gone for good);
- divergence: two reads of a key of which neither is a prefix of the other: a list only grows at
  its end, so in one linearizable history every read is a prefix of every longer one.

The result: `valid`, counts, and `failures`, one entry per anomaly: `anomaly`, `key`, `indexes`
(the invoke indexes of the ops involved, append first), `message` (one line)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from raft_jepsen.harness.history import Call, Op, pair

ANOMALIES = ("duplicate", "garbage", "lost", "divergence")


class ListAppend:
    def check(self, history: list[Op]) -> dict:
        return check(history)


def check(history: list[Op]) -> dict:
    appends: dict[Any, dict[Any, Call]] = defaultdict(dict)  # key -> value -> its append
    reads: dict[Any, list[Call]] = defaultdict(list)  # key -> ok reads, in invocation order
    for call in pair(history):
        if call.invoke.f == "append":
            appends[call.invoke.key][_hashable(call.invoke.value)] = call
        elif call.invoke.f == "read" and call.type == "ok":
            reads[call.invoke.key].append(call)
    failures = []
    for key in sorted(set(appends) | set(reads), key=repr):
        failures += _check_key(key, appends[key], reads[key])
    failures.sort(key=lambda f: (ANOMALIES.index(f["anomaly"]), f["indexes"]))
    counts = Counter(f["anomaly"] for f in failures)
    return {
        "valid": not failures,
        "key_count": len(set(appends) | set(reads)),
        "read_count": sum(len(r) for r in reads.values()),
        "anomaly_counts": {a: counts[a] for a in ANOMALIES if counts[a]},
        "failures": failures,
    }


def _check_key(key, appends: dict[Any, Call], reads: list[Call]) -> list[dict]:
    observed = [(r, [_hashable(v) for v in (r.complete.value or [])]) for r in reads]
    return [*_duplicates(key, appends, observed), *_garbage(key, appends, observed),
            *_lost(key, appends, observed), *_divergence(key, observed)]


def _duplicates(key, appends, observed) -> list[dict]:
    """Per value, the first read holding it more than once (later reads repeat the news)."""
    first: dict[Any, tuple[Call, int]] = {}
    for read, values in observed:
        for value, n in Counter(values).items():
            if n > 1:
                first.setdefault(value, (read, n))
    return [_failure("duplicate", key, _indexes(appends.get(value), read),
                     f"read (op {read.invoke.index}) holds {value!r} {n} times")
            for value, (read, n) in first.items()]


def _garbage(key, appends, observed) -> list[dict]:
    """Per value never appended, or whose append definitely failed, the first read holding it."""
    first: dict[Any, Call] = {}
    for read, values in observed:
        for value in values:
            append = appends.get(value)
            if append is None or append.type == "fail":
                first.setdefault(value, read)
    out = []
    for value, read in first.items():
        append = appends.get(value)
        why = "was never appended" if append is None else f"whose append (op {append.invoke.index}) definitely failed"
        out.append(_failure("garbage", key, _indexes(append, read),
                            f"read (op {read.invoke.index}) holds {value!r}, which {why}"))
    return out


def _lost(key, appends, observed) -> list[dict]:
    """Per acknowledged append, the reads invoked after it completed that miss it."""
    seen = [(r, set(values)) for r, values in observed]
    out = []
    for value, append in appends.items():
        if append.type != "ok":
            continue
        missing = [r for r, values in seen if r.invoke.time > append.complete.time and value not in values]
        if missing:
            final = [r for r in missing if r.invoke.node is not None]
            first = (final or missing)[0]
            where = f"the final read on {first.invoke.node}" if final else "a later read"
            more = f" (and {len(missing) - 1} other later reads)" if len(missing) > 1 else ""
            out.append(_failure("lost", key, [append.invoke.index, first.invoke.index],
                                f"acknowledged append {value!r} (op {append.invoke.index}) is missing from "
                                f"{where} (op {first.invoke.index}){more}", final=bool(final)))
    return out


def _divergence(key, observed) -> list[dict]:
    """Reads are prefixes of each other iff, ordered by length, each is a prefix of the next."""
    by_length = sorted(observed, key=lambda rv: (len(rv[1]), rv[0].invoke.index))
    for (a, va), (b, vb) in zip(by_length, by_length[1:]):
        if vb[: len(va)] != va:
            at = next(i for i, (x, y) in enumerate(zip(va, vb)) if x != y)
            return [_failure("divergence", key, sorted([a.invoke.index, b.invoke.index]),
                             f"reads op {a.invoke.index} and op {b.invoke.index} disagree at position {at}: "
                             f"{va[at]!r} vs {vb[at]!r}")]
    return []


def _indexes(append: Call | None, read: Call) -> list[int]:
    return ([append.invoke.index] if append is not None else []) + [read.invoke.index]


def _failure(anomaly: str, key, indexes: list[int], message: str, **extra) -> dict:
    return {"anomaly": anomaly, "key": key, "indexes": indexes, "message": f"{anomaly}: {message}", **extra}


def _hashable(value):
    """Values come from JSON: a list value (unusual, but legal) is compared as a tuple."""
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value
