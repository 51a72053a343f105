"""The checker protocol: a pure function of a history returning a verdict (STYLE.md 6).

`check(history) -> {"valid": True | False | "unknown", ...}`. Checkers compose by name, the
composite's verdict is the worst of its parts (False > "unknown" > True), and a checker that
crashes yields "unknown" with the error rather than crashing the run.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from raft_jepsen.harness.history import Op
from raft_jepsen.harness.history.verdicts import worst


@runtime_checkable
class Checker(Protocol):
    def check(self, history: list[Op]) -> dict: ...


class NoopChecker:
    """Checks nothing: always valid."""

    def check(self, history: list[Op]) -> dict:
        return {"valid": True}


class Safe:
    """Wraps a checker so that an exception becomes {"valid": "unknown", "error": ...}."""

    def __init__(self, checker: Checker):
        self.checker = checker

    def check(self, history: list[Op]) -> dict:
        try:
            return self.checker.check(history)
        except Exception as e:  # a checker's bug must not lose the run's other results
            return {"valid": "unknown", "error": f"{type(e).__name__}: {e}"}


class Compose:
    """Runs named checkers, each one guarded by Safe; `valid` is the worst of theirs."""

    def __init__(self, checkers: dict[str, Checker]):
        self.checkers = {name: Safe(c) for name, c in checkers.items()}

    def check(self, history: list[Op]) -> dict:
        results = {name: c.check(history) for name, c in self.checkers.items()}
        return {"valid": worst([r["valid"] for r in results.values()]), **results}


def compose(checkers: dict[str, Checker]) -> Compose:
    return Compose(checkers)
