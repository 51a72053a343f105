"""One long-lived shell per container, so that a command costs a pipe round trip, not a docker exec.

Each docker exec goes through dockerd: about 100 ms alone and 250 ms for five at once on a
2-core machine, which is how late a fault would land and how far apart the nodes of one fault
would be hit. Instead `sh` is started once with `docker exec -i` and kept open; each command is
written to its stdin as one shell line that runs it with stdin closed and then prints a marker
with its exit code on stdout and a marker on stderr. Docker delivers the output as multiplexed
frames: an 8-byte header (stream 1 or 2, three zero bytes, a big-endian length), then the bytes.

A command must not leave a background process writing to the shell's stdout or stderr: its
output would land in the next command's: a daemon is started detached, its streams closed
(`systems.daemon`)."""

from __future__ import annotations

import secrets
import select
import shlex
import socket
import struct
import threading
import time

import docker

_HEADER = struct.Struct(">BxxxL")
STDOUT, STDERR = 1, 2


class ShellLost(Exception):
    """The shell is gone (container stopped, socket closed, deadline passed); `sent` says whether
    the command may have started, so whether running it another way is safe."""

    def __init__(self, reason: str, sent: bool):
        super().__init__(reason)
        self.sent = sent


class DockerShell:
    def __init__(self, sock: socket.socket, keep: object = None):
        """`sock` carries the shell's stdin one way and its framed output the other; `keep` is
        whatever must stay referenced (and be closed) for the socket to stay open."""
        self._sock = sock
        self._keep = keep
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def start(cls, api: docker.APIClient, container_id: str) -> "DockerShell":
        exec_id = api.exec_create(container_id, ["sh"], stdin=True, stdout=True, stderr=True)["Id"]
        stream = api.exec_start(exec_id, socket=True)  # the hijacked HTTP response's socket
        return cls(getattr(stream, "_sock", stream), keep=stream)

    def try_run(self, argv: list[str], deadline_s: float | None) -> tuple[int, bytes, bytes] | None:
        """Run `argv` and return (exit code, stdout, stderr); None when the shell is busy with
        another thread's command (the caller uses a plain exec instead)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self._run(argv, deadline_s)
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close stdin and the socket: the shell exits. Safe to call twice."""
        self._closed = True
        for thing in (self._sock, self._keep):
            try:
                getattr(thing, "close", lambda: None)()
            except OSError:
                pass

    def _run(self, argv: list[str], deadline_s: float | None) -> tuple[int, bytes, bytes]:
        if self._closed:
            raise ShellLost("the shell was closed", sent=False)
        if select.select([self._sock], [], [], 0)[0]:
            # Nothing is due between commands: this is the shell's end (its container stopped)
            # or stray output, and either way the shell can no longer be trusted.
            self.close()
            raise ShellLost("the shell ended or wrote between commands", sent=False)
        marker = f"rj-done-{secrets.token_hex(8)}"
        # The newline before each marker ends a last line the command left open; it is removed
        # again below. `$?` is the command's exit code: printf runs after it.
        line = (f"{shlex.join(argv)} </dev/null; printf '\\n{marker} %d\\n' $?; printf '\\n{marker}\\n' >&2\n")
        deadline = None if deadline_s is None else time.monotonic() + deadline_s
        try:
            self._sock.settimeout(deadline_s)
            self._sock.sendall(line.encode())
        except OSError as e:
            self.close()
            raise ShellLost(f"cannot write to the shell: {e}", sent=False) from None
        out, err = bytearray(), bytearray()
        end_out, end_err = f"\n{marker} ".encode(), f"\n{marker}\n".encode()
        try:
            while not (err.endswith(end_err) and end_out in out and out.endswith(b"\n")):
                stream, payload = self._frame(deadline)
                (out if stream == STDOUT else err).extend(payload)
        except (OSError, ShellLost) as e:
            self.close()
            raise ShellLost(f"the shell stopped answering: {e}", sent=True) from None
        at = out.rindex(end_out)
        return int(out[at + len(end_out):].strip()), bytes(out[:at]), bytes(err[: -len(end_err)])

    def _frame(self, deadline: float | None) -> tuple[int, bytes]:
        header = self._read(_HEADER.size, deadline)
        stream, size = _HEADER.unpack(header)
        return stream, self._read(size, deadline)

    def _read(self, n: int, deadline: float | None) -> bytes:
        data = bytearray()
        while len(data) < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ShellLost("no answer before the deadline", sent=True)
                self._sock.settimeout(left)
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ShellLost("the shell exited", sent=True)
            data.extend(chunk)
        return bytes(data)
