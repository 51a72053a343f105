"""The stats checker: how many client operations ended ok / fail / info, per function.

Jepsen's `checker/stats`: a run in which no operation succeeded proves nothing about safety and
usually means the cluster or the harness is broken, so it is not valid."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from raft_jepsen.harness.history import Op

COMPLETIONS = ("ok", "fail", "info")


class Stats:
    def check(self, history: Iterable[Op]) -> dict:
        return stats(history)


def stats(history: Iterable[Op]) -> dict:
    by_f: dict[str, Counter] = {}
    for op in history:
        if op.is_client and op.type in COMPLETIONS:
            by_f.setdefault(op.f, Counter())[op.type] += 1
    total = sum(by_f.values(), Counter())
    result = {
        "valid": total["ok"] > 0,
        "count": sum(total.values()),
        **{t: total[t] for t in COMPLETIONS},
        "by_f": {f: {"count": sum(c.values()), **{t: c[t] for t in COMPLETIONS}} for f, c in sorted(by_f.items())},
    }
    if not result["valid"]:
        result["error"] = "no operation succeeded"
    return result
