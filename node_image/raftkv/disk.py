"""The disk under raftkv's storage: what survives a crash.

`Disk` is the real thing: writes land in the OS page cache and become durable on fsync, so
`kill -9` loses nothing the kernel already holds. `PageCacheDisk` (``--simulate-page-cache``)
keeps that page cache inside the process instead: bytes written but not fsynced, and files
created or renamed but not covered by a directory fsync, exist only in memory until the matching
sync. `kill -9` then loses exactly what a power cut would, without FUSE or extra privileges.

Both offer the same few operations; storage code never touches files directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _fsync_and_close(fd: int, data: bytes) -> None:
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class AppendFile:
    """An append-only file handle: `write` buffers in the page cache, `sync` makes it durable."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, data: bytes) -> None:
        _write_all(self._fd, data)

    def sync(self) -> None:
        self.sync_job()()

    def sync_job(self) -> Callable[[], None]:
        """The fsync of everything written so far, to run later, possibly on another thread.

        It works on a duplicate descriptor, so closing or replacing the file meanwhile is safe."""
        return partial(_fsync_and_close, os.dup(self._fd), b"")

    def close(self) -> None:
        os.close(self._fd)


class Disk:
    """A directory on the real file system."""

    def __init__(self, directory: str):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def read(self, name: str) -> bytes | None:
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def truncate(self, name: str, size: int) -> None:
        """Cut a file to `size` bytes, durably (used at start-up to drop a torn tail)."""
        fd = os.open(self.path(name), os.O_WRONLY)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)

    def open_append(self, name: str) -> AppendFile:
        existed = os.path.exists(self.path(name))
        handle = AppendFile(self.path(name))
        if not existed:
            _fsync_dir(self.dir)  # the new file's name must survive a crash too
        return handle

    def replace(self, name: str, data: bytes) -> None:
        """Atomically and durably replace a file: temp file, fsync, rename, fsync directory."""
        tmp = self.path(name + ".tmp")
        _write_durably(tmp, data)
        os.replace(tmp, self.path(name))
        _fsync_dir(self.dir)


class _CachedAppendFile:
    """An append handle whose unsynced bytes live in process memory."""

    def __init__(self, disk: "PageCacheDisk", name: str):
        self._disk = disk
        self._name = name
        self._unsynced = bytearray()

    def write(self, data: bytes) -> None:
        self._unsynced += data

    def sync(self) -> None:
        self.sync_job()()

    def sync_job(self) -> Callable[[], None]:
        """Take the unsynced bytes now; write and fsync them when the job runs."""
        data = bytes(self._unsynced)
        self._unsynced.clear()
        return self._disk._sync_bytes_job(self._name, data)

    def close(self) -> None:
        self._unsynced.clear()


class PageCacheDisk(Disk):
    """A `Disk` whose page cache is simulated in memory, so that kill -9 acts as a power cut.

    The real directory holds only what has been made durable. A file created since the last
    directory fsync is "unlinked": its synced bytes are kept in memory, because after a power
    cut its name would be gone. A rename is pending until the directory fsync as well.
    """

    def __init__(self, directory: str):
        super().__init__(directory)
        self._unlinked: dict[str, bytearray] = {}  # created, not yet covered by a dir fsync
        self._pending_renames: list[tuple[str, str]] = []

    def open_append(self, name: str) -> _CachedAppendFile:
        if not os.path.exists(self.path(name)) and name not in self._unlinked:
            self._unlinked[name] = bytearray()
            self._sync_dir()  # correct code fsyncs the directory after creating a file
        return _CachedAppendFile(self, name)

    def replace(self, name: str, data: bytes) -> None:
        tmp = name + ".tmp"
        self._unlinked[tmp] = bytearray()
        self._sync_bytes(tmp, data)
        self._pending_renames.append((tmp, name))
        self._sync_dir()

    def _sync_bytes(self, name: str, data: bytes) -> None:
        self._sync_bytes_job(name, data)()

    def _sync_bytes_job(self, name: str, data: bytes) -> Callable[[], None]:
        if name in self._unlinked:
            self._unlinked[name] += data  # durable content, but no name on disk yet
            return _nothing
        # Open now: if the file is replaced before the job runs, the bytes go to the old one.
        return partial(_fsync_and_close, os.open(self.path(name), os.O_WRONLY | os.O_APPEND), data)

    def _sync_dir(self) -> None:
        """Make every pending create and rename durable, in the order they happened."""
        for name, data in self._unlinked.items():
            _write_durably(self.path(name), bytes(data))
        self._unlinked.clear()
        for src, dst in self._pending_renames:
            os.replace(self.path(src), self.path(dst))
        self._pending_renames.clear()
        _fsync_dir(self.dir)


def _nothing() -> None:
    pass


def open_disk(directory: str, simulate_page_cache: bool) -> Disk:
    return PageCacheDisk(directory) if simulate_page_cache else Disk(directory)
