"""Quorum arithmetic: who wins an election, and how far the leader may commit.

Pure functions, so that the rules (and the bug switches that break them) are tested directly.
"""

from __future__ import annotations

from collections.abc import Callable, Collection


def majority(size: int) -> int:
    return size // 2 + 1


def wins(votes: Collection[str], members: Collection[str], even_majority: bool = False) -> bool:
    """Whether `votes` (the candidate's own included) elect it among `members`.

    even_majority is the Helios flaw: ``votes > len(peers) / 2`` with peers excluding the
    candidate, so 2 of 4 elect and two disjoint halves can each elect a leader.
    """
    granted = sum(1 for v in votes if v in members)
    if even_majority:
        return granted > (len(members) - 1) / 2
    return granted >= majority(len(members))


def commit_index(matches: list[int], term_at: Callable[[int], int | None], current_term: int,
                 check_term: bool = True) -> int:
    """The highest index a leader may commit, given every voter's match index (its own too).

    The entry at the quorum's match index is committed only if it is from the current term
    (Raft §5.4.2): an older entry on a majority can still be overwritten (figure 8).
    check_term=False is the commit-prior-term flaw. Returns 0 when nothing can be committed.
    """
    if not matches:
        return 0
    candidate = sorted(matches, reverse=True)[majority(len(matches)) - 1]
    if check_term and term_at(candidate) != current_term:
        return 0
    return candidate
