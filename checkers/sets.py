"""The set checker (Jepsen's `checker/set`), per key.

Clients add unique elements to a set and read it; after healing, every node reads every set
(final reads: the reads whose invocation names a node). Against those final reads:

- lost: an acknowledged (ok) add missing from a final read: the cluster forgot a write;
- unexpected: an element read (in any read) that was never added, or whose add definitely failed;
- duplicated: an element a read holds twice (a set holds an element once: a retried add was
  applied twice); each unexpected or duplicated element is reported once, with its first read;
- recovered: an add whose outcome was unknown (info) found in a final read: not an anomaly,
  counted because it shows how often "unknown" meant "happened".

The result: `valid` (unknown when no final read of a key succeeded), counts per key, and
`failures`, one entry per anomaly: `anomaly`, `key`, `indexes` (invoke indexes: the add, then the
read), `message` (one line)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from raft_jepsen.harness.history import Call, Op, pair
from raft_jepsen.harness.history.verdicts import worst

ANOMALIES = ("lost", "unexpected", "duplicated")
ADD = "append"  # raftkv's append is the add: the set is the list it builds


class SetChecker:
    def check(self, history: list[Op]) -> dict:
        return check(history)


def check(history: list[Op]) -> dict:
    adds: dict[Any, dict[Any, Call]] = defaultdict(dict)  # key -> element -> its add
    reads: dict[Any, list[Call]] = defaultdict(list)
    for call in pair(history):
        if call.invoke.f == ADD:
            adds[call.invoke.key][call.invoke.value] = call
        elif call.invoke.f == "read" and call.type == "ok":
            reads[call.invoke.key].append(call)
    keys = {key: _check_key(key, adds[key], reads[key]) for key in sorted(set(adds) | set(reads), key=repr)}
    failures = sorted((f for k in keys.values() for f in k.pop("failures")),
                      key=lambda f: (ANOMALIES.index(f["anomaly"]), f["indexes"]))
    result = {"valid": worst([not failures, *(k["valid"] for k in keys.values())]),
              "keys": keys, "failures": failures}
    unread = [k for k, r in keys.items() if r["valid"] == "unknown"]
    if unread and not failures:
        result["error"] = f"no final read of key {unread[0]!r} succeeded"
    return result


def _check_key(key, adds: dict[Any, Call], reads: list[Call]) -> dict:
    final = [r for r in reads if r.invoke.node is not None]
    failures = []
    reported: set[tuple[str, Any]] = set()  # (anomaly, element): once, with the first read showing it
    for read in reads:
        for element, n in Counter(read.complete.value or []).items():
            add = adds.get(element)
            if n > 1 and ("duplicated", element) not in reported:
                reported.add(("duplicated", element))
                failures.append(_failure("duplicated", key, _indexes(add, read),
                                         f"read (op {read.invoke.index}) holds {element!r} {n} times"))
            if (add is None or add.type == "fail") and ("unexpected", element) not in reported:
                reported.add(("unexpected", element))
                why = "was never added" if add is None else f"whose add (op {add.invoke.index}) definitely failed"
                failures.append(_failure("unexpected", key, _indexes(add, read),
                                         f"read (op {read.invoke.index}) holds {element!r}, which {why}"))
    finally_seen = [set(r.complete.value or []) for r in final]
    for element, add in adds.items():
        missing = [r for r, seen in zip(final, finally_seen) if element not in seen]
        if add.type == "ok" and missing:
            nodes = ", ".join(r.invoke.node for r in missing)
            failures.append(_failure("lost", key, _indexes(add, missing[0]),
                                     f"acknowledged add {element!r} (op {add.invoke.index}) is missing from the "
                                     f"final read on {nodes}"))
    recovered = sum(1 for e, a in adds.items() if a.type == "info" and any(e in seen for seen in finally_seen))
    return {
        "valid": "unknown" if not final else not failures,
        "final_reads": len(final),
        "ok": sum(1 for a in adds.values() if a.type == "ok"),
        "recovered": recovered,
        **{a: sum(1 for f in failures if f["anomaly"] == a) for a in ANOMALIES},
        "failures": failures,
    }


def _indexes(add: Call | None, read: Call) -> list[int]:
    return ([add.invoke.index] if add is not None else []) + [read.invoke.index]


def _failure(anomaly: str, key, indexes: list[int], message: str) -> dict:
    return {"anomaly": anomaly, "key": key, "indexes": indexes, "message": f"{anomaly}: {message}"}
