"""Files from the host put into a node: a program, a folder of them, a configuration.

A file or a whole folder travels as one tar archive through the node's Remote (`upload`, which
takes one regular file, works the same over docker exec and SSH), is unpacked in place and
removed. Modes are kept (an executable stays executable); everything is owned by root, as the
node's processes run as root. The archive is built once per source, whatever the number of
nodes."""

from __future__ import annotations

import os
import shlex
import tarfile
import tempfile
import threading
from pathlib import Path, PurePosixPath

from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node


class Installer:
    """Puts `(source on the host, absolute path in the node)` pairs into nodes."""

    def __init__(self, items: list[tuple[Path, str]]):
        for src, dst in items:
            if not src.exists():
                raise UsageError(f"{src}: no such file or folder to put into the nodes")
            if not PurePosixPath(dst).is_absolute():
                raise UsageError(f"{dst}: a path inside a node must be absolute")
        self.items = list(items)
        self._archives: dict[tuple[Path, str], Path] = {}
        self._lock = threading.Lock()
        self._dir: tempfile.TemporaryDirectory | None = None

    def install(self, node: Node) -> None:
        for src, dst in self.items:
            archive = self._archive(src, dst)
            parent = str(PurePosixPath(dst).parent)
            remote_tar = f"/tmp/rj-install-{archive.name}"
            node.remote.exec(f"rm -rf {shlex.quote(dst)} && mkdir -p {shlex.quote(parent)}")
            node.remote.upload(archive, remote_tar)
            node.remote.exec(f"tar -xf {remote_tar} -C {shlex.quote(parent)} && rm -f {remote_tar}")

    def _archive(self, src: Path, dst: str) -> Path:
        with self._lock:
            if (src, dst) not in self._archives:
                if self._dir is None:
                    self._dir = tempfile.TemporaryDirectory(prefix="raft-jepsen-install-")
                path = Path(self._dir.name) / f"{len(self._archives)}.tar"
                with tarfile.open(path, "w") as tar:
                    tar.add(src, arcname=PurePosixPath(dst).name, filter=_as_root)
                self._archives[(src, dst)] = path
            return self._archives[(src, dst)]

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
            self._archives.clear()


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    if "__pycache__" in info.name.split("/"):
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)
