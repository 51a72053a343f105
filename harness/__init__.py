"""raft-jepsen: Jepsen-style fault injection and linearizability testing for Raft clusters."""

__version__ = "0.1.0"
