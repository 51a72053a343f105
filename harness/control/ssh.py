"""SshRemote: commands and files reach a host over SSH (paramiko), for real machines as well as
for the containers' own sshd.

Keys only, no passwords. Host keys are checked against a known_hosts file (the user's, or the
one a cluster wrote for its containers) unless the caller explicitly turns checking off: a
harness that injects faults as root must not talk to whoever answers on the address."""

from __future__ import annotations

import shlex
import socket
import threading
import time
from pathlib import Path

import paramiko

from raft_jepsen.harness.control.base import (
    CommandTimeout,
    RemoteError,
    Result,
    command_argv,
    finish,
)

CONNECT_TIMEOUT_S = 10.0
# How much longer than the remote timeout(1) we wait before declaring the connection dead.
GRACE_S = 10.0


class SshRemote:
    def __init__(
        self,
        host: str,
        port: int = 22,
        *,
        user: str = "root",
        key_file: str | Path | None = None,
        known_hosts: str | Path | None = None,
        check_host_keys: bool = True,
        name: str | None = None,
    ):
        self.host, self.port, self.user = host, port, user
        self.key_file = str(key_file) if key_file else None
        self.known_hosts = str(known_hosts) if known_hosts else None
        self.check_host_keys = check_host_keys
        self.name = name or (host if port == 22 else f"{host}:{port}")
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()

    def exec(self, cmd: str, check: bool = True, timeout: float | None = None) -> Result:
        started = time.monotonic()
        try:
            channel = self._connection().get_transport().open_session()
            channel.settimeout(None if timeout is None else timeout + GRACE_S)
            channel.exec_command(shlex.join(command_argv(cmd, timeout)))
            stderr: list[bytes] = []
            reader = threading.Thread(target=lambda: stderr.append(channel.makefile_stderr("rb").read()))
            reader.start()
            out = channel.makefile("rb").read()
            reader.join()
            exit_code = channel.recv_exit_status()
            channel.close()
        except socket.timeout:
            raise CommandTimeout(self.name, cmd, timeout or 0) from None
        except (paramiko.SSHException, OSError) as e:
            self._forget()
            raise RemoteError(f"{self.name}: SSH command failed: {e}") from None
        return finish(self.name, cmd, exit_code, out, b"".join(stderr), timeout, time.monotonic() - started, check)

    def upload(self, src: str | Path, dst: str) -> None:
        src = Path(src)
        if not src.is_file():
            raise RemoteError(f"{self.name}: cannot upload {src}: not a regular file")
        try:
            with self._connection().open_sftp() as sftp:
                sftp.put(str(src), dst)
                sftp.chmod(dst, src.stat().st_mode & 0o7777)
        except (paramiko.SSHException, OSError) as e:
            raise RemoteError(f"{self.name}: cannot upload to {dst}: {_reason(e)}") from None

    def download(self, src: str, dst: str | Path) -> None:
        try:
            with self._connection().open_sftp() as sftp:
                sftp.get(src, str(dst))
        except (paramiko.SSHException, OSError) as e:
            raise RemoteError(f"{self.name}: cannot download {src}: {_reason(e)}") from None

    def close(self) -> None:
        with self._lock:
            self._forget_locked()

    def __enter__(self) -> SshRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshRemote({self.user}@{self.name})"

    def _connection(self) -> paramiko.SSHClient:
        with self._lock:
            transport = self._client.get_transport() if self._client else None
            if transport is None or not transport.is_active():
                self._forget_locked()
                self._client = self._connect()
            return self._client

    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.check_host_keys:
            try:
                if self.known_hosts:
                    client.load_host_keys(self.known_hosts)
                else:
                    client.load_system_host_keys()
            except OSError as e:
                raise RemoteError(f"{self.name}: cannot read known_hosts {self.known_hosts}: {e.strerror}") from None
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                pkey=self._private_key(),
                look_for_keys=self.key_file is None,
                allow_agent=self.key_file is None,
                timeout=CONNECT_TIMEOUT_S,
                banner_timeout=CONNECT_TIMEOUT_S,
                auth_timeout=CONNECT_TIMEOUT_S,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise RemoteError(f"{self.name}: host key does not match known_hosts: refusing to connect") from None
        except paramiko.AuthenticationException:
            client.close()
            raise RemoteError(f"{self.name}: SSH key authentication as {self.user} failed") from None
        except (paramiko.SSHException, OSError) as e:
            client.close()
            raise RemoteError(f"{self.name}: cannot connect over SSH: {_reason(e)}") from None
        return client

    def _private_key(self) -> paramiko.PKey | None:
        # Loaded here rather than by connect(key_filename=...), which on a refused key reports
        # its failed attempts at other key formats instead of the refusal.
        if self.key_file is None:
            return None
        try:
            return paramiko.PKey.from_path(self.key_file)
        except (OSError, ValueError, paramiko.SSHException) as e:
            raise RemoteError(f"{self.name}: cannot load SSH key {self.key_file}: {_reason(e)}") from None

    def _forget(self) -> None:
        with self._lock:
            self._forget_locked()

    def _forget_locked(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _reason(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
