"""`python3 -m raft_jepsen.harness.cli`: the `raft-jepsen` command without its script."""

import sys

from raft_jepsen.harness.cli import main

sys.exit(main())
