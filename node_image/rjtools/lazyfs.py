"""A write-back filesystem that loses what was written but never fsynced, as LazyFS does.

    python3 -m rjtools.lazyfs --backing /var/lib/rj-lazyfs/0 --mount /var/lib/raftkv \\
        --report /run/rj/lazyfs-0.json --ready /run/rj/lazyfs-0.ready

Mounted (FUSE, through Debian's python3-pyfuse3) over a node's data directory, it passes
everything to a backing directory except file contents: a `write` or a truncation is kept in
this process's memory (the page cache of a real disk) and reaches the backing file only when the
file is fsynced. SIGUSR1 drops every change not yet fsynced, as a power cut would, and rewrites
`--report` (`{"drops", "lost_bytes", "lost_files"` in all, `"last_bytes", "last_files"` in the
last drop, `"dirty_bytes"}`): the harness sends it after
killing the node, before restarting it. SIGTERM unmounts and exits.

As in LazyFS, creates, renames, unlinks and directories reach the backing directory at once:
only contents are lost, so a missing directory fsync goes unnoticed here. Attributes and
lookups are never cached by the kernel (timeouts 0), so a file's size after a drop is the one
the backing file has.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import stat
import sys

import pyfuse3
import trio

from .pagecache import Dirty


class LazyFS(pyfuse3.Operations):
    def __init__(self, backing: str, report: str):
        super().__init__()
        self.backing = backing
        self.report_path = report
        self.root_ino = os.lstat(backing).st_ino
        self.paths: dict[int, str] = {pyfuse3.ROOT_INODE: backing}
        self.dirty: dict[int, Dirty] = {}
        self.files: dict[int, tuple[int, int]] = {}  # fh -> (inode, backing fd)
        self.next_fh = 1
        self.stats = {"drops": 0, "lost_bytes": 0, "lost_files": 0, "last_bytes": 0, "last_files": 0}

    # ---- inodes and attributes -----------------------------------------------------------

    def _ino(self, st: os.stat_result) -> int:
        return pyfuse3.ROOT_INODE if st.st_ino == self.root_ino else st.st_ino

    def _path(self, inode: int) -> str:
        try:
            return self.paths[inode]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ESTALE) from None

    def _child(self, parent: int, name: bytes) -> str:
        return os.path.join(self._path(parent), os.fsdecode(name))

    def _attrs(self, path: str) -> pyfuse3.EntryAttributes:
        try:
            st = os.lstat(path)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno) from None
        ino = self._ino(st)
        self.paths[ino] = path
        entry = pyfuse3.EntryAttributes()
        for name in ("st_mode", "st_nlink", "st_uid", "st_gid", "st_rdev", "st_size", "st_atime_ns",
                     "st_mtime_ns", "st_ctime_ns", "st_blksize", "st_blocks"):
            setattr(entry, name, getattr(st, name))
        entry.st_ino = ino
        if ino in self.dirty:
            entry.st_size = self.dirty[ino].size
        entry.generation = 0
        entry.entry_timeout = 0
        entry.attr_timeout = 0
        return entry

    async def lookup(self, parent_inode, name, ctx=None):
        return self._attrs(self._child(parent_inode, name))

    async def getattr(self, inode, ctx=None):
        return self._attrs(self._path(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        path = self._path(inode)
        try:
            if fields.update_size:
                self._dirty(inode, path).truncate(attr.st_size)
            if fields.update_mode:
                os.chmod(path, stat.S_IMODE(attr.st_mode))
            if fields.update_uid or fields.update_gid:
                os.chown(path, attr.st_uid if fields.update_uid else -1, attr.st_gid if fields.update_gid else -1,
                         follow_symlinks=False)
            if fields.update_atime or fields.update_mtime:
                st = os.lstat(path)
                os.utime(path, ns=(attr.st_atime_ns if fields.update_atime else st.st_atime_ns,
                                   attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns))
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno) from None
        return self._attrs(path)

    async def forget(self, inode_list):
        pass  # inodes stay known: a data directory holds few files

    async def readlink(self, inode, ctx):
        return os.fsencode(os.readlink(self._path(inode)))

    async def statfs(self, ctx):
        sv = os.statvfs(self.backing)
        data = pyfuse3.StatvfsData()
        for name in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail",
                     "f_namemax"):
            setattr(data, name, getattr(sv, name))
        return data

    # ---- directories: straight to the backing directory -------------------------------------

    async def opendir(self, inode, ctx):
        self._path(inode)
        return inode

    async def readdir(self, fh, start_id, token):
        path = self._path(fh)
        names = sorted(os.listdir(path))
        for i, name in enumerate(names[start_id:], start_id + 1):
            try:
                attrs = self._attrs(os.path.join(path, name))
            except pyfuse3.FUSEError:
                continue  # removed meanwhile
            if not pyfuse3.readdir_reply(token, os.fsencode(name), attrs, i):
                break

    async def releasedir(self, fh):
        pass

    async def fsyncdir(self, fh, datasync):
        fd = os.open(self._path(fh), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    async def mkdir(self, parent_inode, name, mode, ctx):
        path = self._child(parent_inode, name)
        self._os(os.mkdir, path, mode)
        return self._attrs(path)

    async def rmdir(self, parent_inode, name, ctx):
        self._os(os.rmdir, self._child(parent_inode, name))

    async def unlink(self, parent_inode, name, ctx):
        path = self._child(parent_inode, name)
        st = self._os(os.lstat, path)
        self._os(os.unlink, path)
        if st.st_nlink <= 1 and not any(ino == self._ino(st) for ino, _ in self.files.values()):
            self.dirty.pop(self._ino(st), None)  # gone with its last name, and no one has it open

    async def symlink(self, parent_inode, name, target, ctx):
        path = self._child(parent_inode, name)
        self._os(os.symlink, os.fsdecode(target), path)
        return self._attrs(path)

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        old, new = self._child(parent_inode_old, name_old), self._child(parent_inode_new, name_new)
        self._os(os.rename, old, new)
        for ino, path in list(self.paths.items()):  # a moved directory moves what is under it
            if path == old or path.startswith(old + os.sep):
                self.paths[ino] = new + path[len(old):]

    # ---- files: contents cached until fsync ----------------------------------------------------

    def _dirty(self, inode: int, path: str) -> Dirty:
        if inode not in self.dirty:
            self.dirty[inode] = Dirty(os.lstat(path).st_size)
        return self.dirty[inode]

    def _open_fh(self, inode: int, fd: int) -> int:
        fh, self.next_fh = self.next_fh, self.next_fh + 1
        self.files[fh] = (inode, fd)
        return fh

    async def open(self, inode, flags, ctx):
        path = self._path(inode)
        fd = self._os(os.open, path, os.O_RDWR if os.path.isfile(path) else os.O_RDONLY)
        if flags & os.O_TRUNC:
            self._dirty(inode, path).truncate(0)
        return pyfuse3.FileInfo(fh=self._open_fh(inode, fd))

    async def create(self, parent_inode, name, mode, flags, ctx):
        path = self._child(parent_inode, name)
        existed = os.path.lexists(path)
        fd = self._os(os.open, path, os.O_RDWR | os.O_CREAT | (flags & os.O_EXCL), mode)
        attrs = self._attrs(path)
        if not existed:
            self.dirty.pop(attrs.st_ino, None)  # a new file may reuse a removed one's inode number
        if flags & os.O_TRUNC:
            self._dirty(attrs.st_ino, path).truncate(0)
            attrs.st_size = 0
        return pyfuse3.FileInfo(fh=self._open_fh(attrs.st_ino, fd)), attrs

    async def read(self, fh, off, size):
        inode, fd = self.files[fh]
        base = self._os(os.pread, fd, size, off)
        dirty = self.dirty.get(inode)
        return dirty.overlay(base, off, size) if dirty else base

    async def write(self, fh, off, buf):
        inode, fd = self.files[fh]
        if inode not in self.dirty:
            self.dirty[inode] = Dirty(os.fstat(fd).st_size)
        self.dirty[inode].write(off, buf)
        return len(buf)

    async def flush(self, fh):
        pass  # close(2) makes nothing durable

    async def release(self, fh):
        _, fd = self.files.pop(fh)
        os.close(fd)

    async def fsync(self, fh, datasync):
        inode, fd = self.files[fh]
        dirty = self.dirty.pop(inode, None)
        try:
            if dirty:
                dirty.apply(fd)
            os.fsync(fd)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno) from None

    def _os(self, fn, *args):
        try:
            return fn(*args)
        except OSError as e:
            raise pyfuse3.FUSEError(e.errno) from None

    # ---- the power cut ----------------------------------------------------------------------

    def drop(self) -> list[int]:
        """Forget every unsynced change; the inodes whose kernel view must be refreshed."""
        lost = list(self.dirty)
        self.stats["drops"] += 1
        self.stats["last_bytes"] = sum(d.bytes() for d in self.dirty.values())
        self.stats["last_files"] = len(lost)
        self.stats["lost_bytes"] += self.stats["last_bytes"]
        self.stats["lost_files"] += len(lost)
        self.dirty.clear()
        return lost

    def write_report(self) -> None:
        tmp = self.report_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({**self.stats, "dirty_bytes": sum(d.bytes() for d in self.dirty.values())}, f)
        os.replace(tmp, self.report_path)


async def serve(fs: LazyFS, ready: str | None) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(pyfuse3.main)
        if ready:
            open(ready, "w").close()
        with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGTERM) as signals:
            async for signum in signals:
                if signum == signal.SIGTERM:
                    nursery.cancel_scope.cancel()
                    return
                for inode in fs.drop():
                    try:
                        await trio.to_thread.run_sync(pyfuse3.invalidate_inode, inode, False)
                    except OSError:
                        pass  # the kernel had nothing cached for it
                fs.write_report()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rjtools.lazyfs")
    p.add_argument("--backing", required=True)
    p.add_argument("--mount", required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--ready")
    args = p.parse_args(argv)
    os.makedirs(args.backing, exist_ok=True)
    os.makedirs(args.mount, exist_ok=True)
    fs = LazyFS(args.backing, args.report)
    fs.write_report()
    pyfuse3.init(fs, args.mount, {"fsname=rjlazyfs", "subtype=rjlazyfs"})
    try:
        trio.run(serve, fs, args.ready)
    finally:
        pyfuse3.close(unmount=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
