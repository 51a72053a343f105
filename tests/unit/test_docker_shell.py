"""DockerShell against a real local `sh` behind a fake dockerd: stdin goes to the shell, its
output comes back in Docker's multiplexed frames, cut into small pieces to test reassembly."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from raft_jepsen.harness.control.base import command_argv
from raft_jepsen.harness.control.docker_shell import DockerShell, ShellLost


class FakeDockerd:
    def __init__(self, frame_size: int = 7):
        self.ours, theirs = socket.socketpair()
        self.theirs = theirs
        self.shell = subprocess.Popen(["sh"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frame_size = frame_size
        self._send_lock = threading.Lock()
        for target in (self._stdin, lambda: self._output(1, self.shell.stdout), lambda: self._output(2, self.shell.stderr)):
            threading.Thread(target=target, daemon=True).start()

    def _stdin(self):
        try:
            while data := self.theirs.recv(4096):
                self.shell.stdin.write(data)
                self.shell.stdin.flush()
            self.shell.stdin.close()
        except OSError:
            pass  # the shell was killed

    def _output(self, stream, pipe):
        while data := pipe.read1(4096):
            for i in range(0, len(data), self.frame_size):
                piece = data[i:i + self.frame_size]
                with self._send_lock:
                    try:
                        self.theirs.sendall(struct.pack(">BxxxL", stream, len(piece)) + piece)
                    except OSError:
                        return

    def stop(self):
        """The container stops: the shell dies and dockerd closes the connection."""
        self.shell.kill()
        self.shell.wait()
        try:
            self.theirs.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.theirs.close()


@pytest.fixture
def dockerd():
    d = FakeDockerd()
    yield d
    d.stop()


def run(shell, cmd, timeout=None, deadline=10):
    return shell.try_run(command_argv(cmd, timeout), deadline)


def test_output_of_both_streams_and_the_exit_code_come_back_whole(dockerd):
    shell = DockerShell(dockerd.ours)
    assert run(shell, "echo out; echo err >&2; printf 'no newline'") == (0, b"out\nno newline", b"err\n")
    assert run(shell, "exit 3") == (3, b"", b"")
    assert run(shell, "head -c 100000 /dev/zero | tr '\\0' a")[1] == b"a" * 100000


def test_a_command_reading_stdin_gets_end_of_file_not_the_next_command(dockerd):
    shell = DockerShell(dockerd.ours)
    assert run(shell, "cat; echo done") == (0, b"done\n", b"")
    assert run(shell, "echo next")[1] == b"next\n"


def test_a_timed_out_command_is_stopped_and_the_shell_goes_on(dockerd):
    shell = DockerShell(dockerd.ours)
    code, _, _ = run(shell, "sleep 5", timeout=0.3)
    assert code == 124
    assert run(shell, "echo still here")[1] == b"still here\n"


def test_a_busy_shell_says_so_instead_of_queueing(dockerd):
    shell = DockerShell(dockerd.ours)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(run, shell, "sleep 0.5; echo slow")
        time.sleep(0.2)
        assert run(shell, "echo fast") is None
        assert slow.result()[1] == b"slow\n"


def test_a_shell_that_ended_is_lost_before_the_command_is_sent(dockerd):
    shell = DockerShell(dockerd.ours)
    assert run(shell, "true")[0] == 0
    dockerd.stop()
    with pytest.raises(ShellLost) as lost:
        run(shell, "true")
    assert lost.value.sent is False and shell.closed


def test_a_shell_that_stops_answering_is_lost_after_sending(dockerd):
    shell = DockerShell(dockerd.ours)
    with pytest.raises(ShellLost) as lost:
        run(shell, "sleep 2", deadline=0.3)
    assert lost.value.sent is True and shell.closed
