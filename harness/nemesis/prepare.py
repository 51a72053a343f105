"""What some faults need on the nodes before the system starts, and never undo mid-run.

The clock faults need the node process started with libfaketime (its environment file, and the
offset file at +0); `lose-unsynced` needs the system's data directories mounted on the write-back
filesystem, and the containers created with the privileges FUSE needs (`privileges`). The backend
prepares the nodes as soon as they exist, before the system is set up, and undoes it once the
system is torn down (containers then go anyway; SSH hosts are left as they were)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

from raft_jepsen.harness.errors import RaftJepsenError
from raft_jepsen.harness.nemesis import clock, lazyfs, tools
from raft_jepsen.harness.nemesis.parallel import on_each
from raft_jepsen.harness.nodes import Node


def privileges(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(capabilities, devices) the containers need beyond NET_ADMIN for these fault kinds."""
    return lazyfs.PRIVILEGES if lazyfs.NAME in names else ((), ())


@contextlib.contextmanager
def prepared(names: Sequence[str], nodes: list[Node], data_dirs: Sequence[str],
             progress: Callable[[str], None] = lambda line: None) -> Iterator[None]:
    undo: list[Callable[[Node], None]] = []
    try:
        if clock.kinds_named(names):
            on_each(nodes, lambda node: tools.run(node, clock.prepare_command(), "libfaketime set-up"))
            undo.append(lambda node: tools.run(node, clock.unprepare_command(), "libfaketime removal"))
        if lazyfs.NAME in names:
            progress(f"mounting the write-back filesystem on {', '.join(data_dirs)}")
            undo.append(lambda node: lazyfs.unmount(node, data_dirs))
            on_each(nodes, lambda node: lazyfs.mount(node, data_dirs))
        yield
    finally:
        for step in reversed(undo):
            try:
                on_each(nodes, step)
            except RaftJepsenError as e:
                progress(f"warning: {e}")
