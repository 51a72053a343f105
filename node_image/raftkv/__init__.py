"""raftkv: the Raft key-value node bundled with raft-jepsen (standard library only)."""
