"""The node's event log: one JSON object per line on stderr, always with `ts`, `node`, `event`.

The harness redirects stderr to /var/log/rj/node.log and reads `role` events to place leader
changes on a run's time line (docs/architecture.md)."""

from __future__ import annotations

import json
import sys
import time


def emit(node: str, event: str, **fields) -> None:
    record = {"ts": time.time(), "node": node, "event": event, **fields}
    sys.stderr.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
    sys.stderr.flush()
