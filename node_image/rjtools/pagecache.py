"""The page cache of `rjtools.lazyfs`: one file's changes since its last fsync, kept in memory.

Pure (no FUSE), so that what a read returns and what an fsync writes can be tested alone."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass
class Dirty:
    """An inode's changes since its last fsync, in order: ("w", offset, bytes) or ("t", size)."""

    size: int
    ops: list = field(default_factory=list)

    def write(self, off: int, data: bytes) -> None:
        last = self.ops[-1] if self.ops else None
        if last and last[0] == "w" and last[1] + len(last[2]) == off:
            self.ops[-1] = ("w", last[1], last[2] + data)  # appends coalesce
        else:
            self.ops.append(("w", off, bytes(data)))
        self.size = max(self.size, off + len(data))

    def truncate(self, size: int) -> None:
        self.ops.append(("t", size))
        self.size = size

    def bytes(self) -> int:
        return sum(len(op[2]) for op in self.ops if op[0] == "w")

    def overlay(self, base: bytes, off: int, size: int) -> bytes:
        """What a read of `size` bytes at `off` returns, given the backing file's bytes there."""
        buf = bytearray(base.ljust(size, b"\0"))
        for op in self.ops:
            if op[0] == "t":
                cut = max(0, op[1] - off)
                buf[cut:] = b"\0" * max(0, len(buf) - cut)
            else:
                _, w_off, data = op
                lo, hi = max(off, w_off), min(off + size, w_off + len(data))
                if lo < hi:
                    buf[lo - off:hi - off] = data[lo - w_off:hi - w_off]
        return bytes(buf[:max(0, min(size, self.size - off))])

    def apply(self, fd: int) -> None:
        for op in self.ops:
            if op[0] == "t":
                os.ftruncate(fd, op[1])
            else:
                view, pos = memoryview(op[2]), op[1]
                while view:
                    n = os.pwrite(fd, view, pos)
                    view, pos = view[n:], pos + n
