"""DockerRemote: commands and files reach a container through the Docker API (docker exec and
the archive endpoints), so no sshd and no published port is needed. Commands go through one
long-lived shell per container (`DockerShell`) when it is free, a docker exec each otherwise."""

from __future__ import annotations

import io
import posixpath
import tarfile
import threading
import time
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from raft_jepsen.harness.control.base import (
    KILL_AFTER_S,
    RemoteError,
    Result,
    command_argv,
    finish,
)
from raft_jepsen.harness.control.docker_shell import DockerShell, ShellLost

# Beyond a command's own timeout (timeout(1) stops it on the node), how long to wait for the
# shell's answer before giving the shell up.
SHELL_GRACE_S = KILL_AFTER_S + 10


class DockerRemote:
    def __init__(self, container: Container, name: str | None = None):
        self.container = container
        self.name = name or container.name
        self._shell: DockerShell | None = None
        self._shell_lock = threading.Lock()

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        started = time.monotonic()
        argv = command_argv(cmd, timeout)
        done = self._in_shell(argv, timeout)
        if done is None:
            try:
                done = self.container.exec_run(argv, demux=True)
            except docker.errors.APIError as e:
                raise RemoteError(f"{self.name}: docker exec failed: {e.explanation}") from None
        exit_code, (out, err) = done
        return finish(self.name, cmd, exit_code, out, err, timeout, time.monotonic() - started, check)

    def close(self) -> None:
        """End the long-lived shell (the container's removal ends it too)."""
        with self._shell_lock:
            if self._shell is not None:
                self._shell.close()
                self._shell = None

    def _in_shell(self, argv: list[str], timeout: float | None):
        """(exit code, (stdout, stderr)) through the shell; None when it is busy or cannot be
        had, so the caller runs a plain exec, which reports a stopped container properly."""
        shell = self._get_shell()
        if shell is None:
            return None
        try:
            done = shell.try_run(argv, None if timeout is None else timeout + SHELL_GRACE_S)
        except ShellLost as e:
            if e.sent:  # it may have run: running it again could do it twice
                raise RemoteError(f"{self.name}: lost the shell running `{argv[-1][:60]}`: {e}") from None
            return None
        return None if done is None else (done[0], (done[1], done[2]))

    def _get_shell(self) -> DockerShell | None:
        with self._shell_lock:
            if self._shell is None or self._shell.closed:
                try:
                    self._shell = DockerShell.start(self.container.client.api, self.container.id)
                except (docker.errors.APIError, OSError):
                    self._shell = None
            return self._shell

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
