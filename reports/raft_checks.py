"""What the report's "Raft invariants and liveness" section shows (templates/raft_checks.html.j2):
the verdict split into safety and liveness, the invariant violations in time order, and each
liveness check's verdict, from results.json alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOWN = 30  # violations listed; the rest are counted


@dataclass
class RaftChecks:
    safety: str
    liveness: str | None
    liveness_only: bool
    invariants: str
    violations: list[dict] = field(default_factory=list)
    more_violations: str | None = None
    failed_checks: set[str] = field(default_factory=set)
    ran_liveness: bool = False

    def check(self, name: str) -> str:
        if not self.ran_liveness:
            return "unknown"
        return "invalid" if name in self.failed_checks else "valid"

    @staticmethod
    def fmt(seconds: Any) -> str:
        return "none in time" if seconds is None else f"after {seconds:g} s"


def raft_checks(results: dict) -> RaftChecks:
    checkers = results.get("checkers") or {}
    inv = checkers.get("invariants") if isinstance(checkers.get("invariants"), dict) else {}
    live = checkers.get("liveness") if isinstance(checkers.get("liveness"), dict) else {}
    failures = [f for f in inv.get("failures") or [] if isinstance(f, dict)]
    failures.sort(key=lambda f: f.get("time_s") if isinstance(f.get("time_s"), (int, float)) else float("inf"))
    total = sum(v for v in (inv.get("violations") or {}).values() if isinstance(v, int))
    more = total - min(len(failures), SHOWN)
    safety, liveness = _word(results.get("safety", results.get("valid"))), results.get("liveness")
    return RaftChecks(
        safety=safety,
        liveness=None if liveness is None else _word(liveness),
        liveness_only=liveness is False and safety != "invalid",
        invariants=_word(inv.get("valid")),
        violations=failures[:SHOWN],
        more_violations=f"… and {more:,} more violations (results.json lists up to 20 per invariant)" if more > 0 else None,
        failed_checks={f.get("check") for f in live.get("failures") or [] if isinstance(f, dict)},
        ran_liveness=bool(live),
    )


def _word(valid: Any) -> str:
    return {True: "valid", False: "invalid"}.get(valid, "unknown")


def raft_marks(results: dict) -> list[tuple[int, str]]:
    """(time in ns, message) of each listed invariant violation that has a time: marks on the
    report's leader lane."""
    return [(round(f["time_s"] * 1e9), f.get("message") or f.get("invariant") or "") for f in raft_checks(results).violations
            if isinstance(f.get("time_s"), (int, float))]
