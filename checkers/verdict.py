"""The verdict of a run: check the assumptions, then run the checkers (STYLE.md 6, 10).

Before any checker's opinion counts, the history must be well formed (one outstanding op per
process, no process reused after `info`) and must hold at least one successful read and one
successful write: without them "valid" would mean "nothing was tested". Checkers are composed by
taking the worst verdict (False > "unknown" > True); a checker that crashes gives "unknown" with
its error, never a crashed run."""

from __future__ import annotations

from raft_jepsen.checkers.core import Checker, compose
from raft_jepsen.harness.errors import HistoryError
from raft_jepsen.harness.history import Op, pair
from raft_jepsen.harness.history.verdicts import worst

# Checkers of liveness: a run they alone find invalid lost no data, the cluster was only slow.
LIVENESS = ("availability", "liveness")


def malformed(history: list[Op]) -> str | None:
    try:
        pair(history)
    except HistoryError as e:
        return f"history not well formed: {e}"
    return None


def thin(history: list[Op]) -> str | None:
    """Why this history is too thin to test anything, or None."""
    succeeded = {"read" if op.f == "read" else "write" for op in history if op.is_client and op.type == "ok"}
    missing = [f for f in ("read", "write") if f not in succeeded]  # any update (cas, append) is a write
    if missing:
        return f"no {' and no '.join(missing)} succeeded: nothing was tested"
    return None


def judge(history: list[Op], checkers: dict[str, Checker]) -> tuple[bool | str, str | None, dict[str, dict]]:
    """(valid, reason when unknown, each checker's result)."""
    results = compose(checkers).check(history)
    valid = results.pop("valid")
    reason = malformed(history)
    if reason is not None:
        return "unknown", reason, results
    reason = thin(history)
    # A proven anomaly stands even in a thin history; "nothing succeeded" (stats) is not one.
    if reason is not None and not any(r["valid"] is False for n, r in results.items() if n != "stats"):
        return "unknown", reason, results
    if valid == "unknown":
        reason = next(_why_unknown(name, r) for name, r in results.items() if r["valid"] == "unknown")
    return valid, reason, results


def _why_unknown(name: str, result: dict) -> str:
    unknown = result.get("unknown") or []
    if result.get("error"):
        return f"{name}: {result['error']}"
    if isinstance(result.get("reason"), str):
        return f"{name}: {result['reason']}"
    if unknown and isinstance(unknown[0], dict) and unknown[0].get("reason"):
        return f"{name}: key {unknown[0].get('key')!r}: {unknown[0]['reason']}"
    return f"{name} could not decide"


def anomaly(results: dict[str, dict]) -> str | None:
    """The first anomaly found, in one line that leads with a plain sentence: a failure's
    `explanation` (the linearizability checker's minimal explanation) or its `message` without
    the anomaly's name, then in brackets the checker, the anomaly, the key and the operations.
    A safety checker's anomaly comes before a liveness one's."""
    ordered = sorted(results.items(), key=lambda item: item[0] in LIVENESS)
    for name, result in ordered:
        if result.get("valid") is False:
            failures = result.get("failures") or []
            if failures and isinstance(failures[0], dict):
                f = failures[0]
                kind = next((f[k] for k in ("anomaly", "invariant") if isinstance(f.get(k), str)), None)
                sentence, where = _sentence(f, kind), [f"{name}: {kind}" if kind else name]
                if "key" in f:
                    where.append(f"key {f['key']!r}")
                ops = f.get("minimal") if isinstance(f.get("minimal"), list) else f.get("indexes")
                if isinstance(ops, list) and ops:
                    shown = ", ".join(map(str, ops[:8])) + (f" and {len(ops) - 8} more" if len(ops) > 8 else "")
                    where.append(f"op{'s' if len(ops) > 1 else ''} {shown}")
                if len(failures) > 1:
                    more = len(failures) - 1
                    where.append(f"+{more} more {'failure' if more == 1 else 'failures'}")
                return f"{sentence} ({', '.join(where)})"
            return f"{name}: {result.get('message') or result.get('error') or 'invalid'}"
    return None


def _sentence(failure: dict, kind: str | None) -> str:
    if isinstance(failure.get("explanation"), str):
        return failure["explanation"]
    message = str(failure.get("message", "not linearizable"))
    if kind and message.startswith(f"{kind}: "):  # "lost: acknowledged append ...": the name goes last
        return message[len(kind) + 2:]
    return message


def safety_and_liveness(results: dict[str, dict]) -> dict:
    """The verdict split in two for results.json: `safety` over every checker but the liveness
    ones, `liveness` over those (absent when none ran)."""
    out: dict = {"safety": worst(r.get("valid", "unknown") for n, r in results.items() if n not in LIVENESS)}
    ran = [r.get("valid", "unknown") for n, r in results.items() if n in LIVENESS]
    if ran:
        out["liveness"] = worst(ran)
    return out


def liveness_only(results: dict[str, dict]) -> bool:
    """Whether only liveness checkers found the run invalid: slow, but no data lost."""
    split = safety_and_liveness(results)
    return split.get("liveness") is False and split["safety"] is not False
