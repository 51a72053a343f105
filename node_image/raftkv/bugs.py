"""The bug switches: each reproduces one flaw of a reference design (node_image/README.md), and
nothing else, so that the harness can prove it finds them. All are off unless named with ``--bug``.

This is the one list of switches: the node parses ``--bug`` into `Bugs` (an unknown name is an
error), its code reads the typed fields (a misspelt field is an AttributeError, not a switch
that silently never fires), and the harness validates `--bug` against `BUGS` before any
container starts (it imports this module from its package data)."""

from dataclasses import dataclass, field, fields


def _switch(what: str):
    return field(default=False, metadata={"what": what})


@dataclass(frozen=True)
class Bugs:
    vote_ignores_log: bool = _switch("votes (and pre-votes) are granted without the log up-to-date check")
    self_elect: bool = _switch("on election timeout a node makes itself leader of the next term without a vote")
    commit_prior_term: bool = _switch("the commit index is the quorum match index even when that entry is "
                                      "from an earlier term, and a new leader appends no no-op (as in the "
                                      "reference design): Raft's figure 8")
    volatile_state: bool = _switch("log, term and vote are kept in memory only: a restart forgets them")
    lazy_fsync: bool = _switch("the log is fsynced every 100 ms in the background; replies do not wait for it")
    stale_read: bool = _switch("the leader answers reads from its local state without confirming leadership, "
                               "and has no check-quorum (steps down only on a higher term), as in Helios")
    no_truncate: bool = _switch("a follower keeps conflicting entries and only appends beyond its last index")
    fixed_timeout: bool = _switch("the election timeout is the same constant on every node, never randomized")
    duplicate_apply: bool = _switch("no client session table: a retried command is applied again")
    accept_stale_term: bool = _switch("AppendEntries from a leader of an older term is accepted")
    truncate_on_match: bool = _switch("a follower deletes everything after prevLogIndex, even entries that match")
    ack_before_commit: bool = _switch("the leader acknowledges a command as soon as it is appended to its log")
    even_majority: bool = _switch("a quorum is count > (members - 1) / 2, for elections, commitment, "
                                  "check-quorum and reads alike: 2 of 4")
    optimistic_match: bool = _switch("the leader sets a follower's match index to what it sent, not what was "
                                     "acknowledged")
    lease_read: bool = _switch("the leader answers reads from local state while its lease holds (a majority "
                               "acknowledged a heartbeat sent less than 0.9 election timeouts ago by its wall "
                               "clock), and keeps leading as long as the lease: safe only while clocks behave")
    config_before_commit: bool = _switch("a membership change is appended while the previous one is uncommitted, "
                                         "and by a new leader before its term's first commit (the single-server "
                                         "change bug of raft-dev, 2015): two disjoint majorities can form")

    @classmethod
    def parse(cls, names) -> "Bugs":
        """The switches named (as on the command line: ``stale-read``); ValueError for a name
        that is not one."""
        chosen = {}
        for name in names:
            if name not in BUGS:
                raise ValueError(f"unknown bug switch {name!r} (known: {', '.join(BUGS)})")
            chosen[name.replace("-", "_")] = True
        return cls(**chosen)

    def names(self) -> list:
        return [f.name.replace("_", "-") for f in fields(self) if getattr(self, f.name)]


# switch name (as on the command line) -> what it breaks
BUGS = {f.name.replace("_", "-"): f.metadata["what"] for f in fields(Bugs)}
