"""DockerRemote: commands and files reach a container through the Docker API (docker exec and
the archive endpoints), so no sshd and no published port is needed."""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from harness.control.base import RemoteError, Result, command_argv, finish


class DockerRemote:
    def __init__(self, container: Container, name: str | None = None):
        self.container = container
        self.name = name or container.name

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        started = time.monotonic()
        try:
            exit_code, (out, err) = self.container.exec_run(command_argv(cmd, timeout), demux=True)
        except docker.errors.APIError as e:
            raise RemoteError(f"{self.name}: docker exec failed: {e.explanation}") from None
        return finish(self.name, cmd, exit_code, out, err, timeout, time.monotonic() - started, check)

    def spawn(self, cmd: str) -> None:
        try:
            self.container.exec_run(["sh", "-c", cmd], detach=True)
        except docker.errors.APIError as e:
            raise RemoteError(f"{self.name}: docker exec failed: {e.explanation}") from None

    def upload(self, src: str | Path, dst: str) -> None:
        src = Path(src)
        if not src.is_file():
            raise RemoteError(f"{self.name}: cannot upload {src}: not a regular file")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar, src.open("rb") as content:
            info = tar.gettarinfo(fileobj=content, arcname=posixpath.basename(dst))
            info.uid = info.gid = 0  # owned by the node's root, not by our local uid
            info.uname = info.gname = "root"
            tar.addfile(info, content)
        try:
            self.container.put_archive(posixpath.dirname(dst) or "/", buffer.getvalue())
        except docker.errors.APIError as e:
            raise RemoteError(f"{self.name}: cannot upload to {dst}: {e.explanation}") from None

    def download(self, src: str, dst: str | Path) -> None:
        try:
            stream, _ = self.container.get_archive(src)
            data = b"".join(stream)
        except docker.errors.APIError as e:
            raise RemoteError(f"{self.name}: cannot download {src}: {e.explanation}") from None
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise RemoteError(f"{self.name}: cannot download {src}: not a regular file")
            content = tar.extractfile(member)
            Path(dst).write_bytes(content.read() if content else b"")

    def __repr__(self) -> str:
        return f"DockerRemote({self.name})"
