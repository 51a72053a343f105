"""The shim that runs a Maelstrom node (jepsen-io/maelstrom's protocol: JSON messages on stdin
and stdout) in a raft-jepsen container, behind real TCP. See `shim.py`; run as
`python3 -m maelstrom --help`. Standard library only: it ships in the node image."""
