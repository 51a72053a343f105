"""Verdicts and the exit codes they become: the one place that orders them.

A verdict is True (valid), False (invalid: an anomaly was found) or "unknown". Composing takes
the worst, False > "unknown" > True: a proven anomaly outweighs a part that could not decide.
Exit codes follow (DESIGN.md): 0 valid, 1 invalid, 2 unknown, 3 bad usage or environment; the
worst of several runs' codes is invalid, then unknown, then usage, then valid."""

from __future__ import annotations

from typing import Iterable

Verdict = bool | str
VERDICTS: tuple[Verdict, ...] = (True, "unknown", False)  # from best to worst
EXIT_CODES = {True: 0, False: 1, "unknown": 2}
USAGE = 3
_BADNESS = {0: 0, USAGE: 1, 2: 2, 1: 3}  # exit code -> how bad, for `worst_exit`


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst verdict of several; True for none."""
    return max(verdicts, key=VERDICTS.index, default=True)


def exit_code(valid: Verdict) -> int:
    return EXIT_CODES[valid]


def worst_exit(codes: Iterable[int]) -> int:
    """The exit code that should stand for several: invalid, then unknown, then usage, then 0."""
    return max(codes, key=lambda c: _BADNESS.get(c, 2), default=0)
