"""SshRemote against the containers' own sshd on 127.0.0.1, with host-key checking on and the
keys the cluster recorded: commands, files, detached starts, and refusing the wrong host."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.control.base import CommandFailed, CommandTimeout, RemoteError
from raft_jepsen.harness.control.ssh import SshRemote
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT
from tests.docker.conftest import detached

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=2, client_port=CLIENT_PORT) as c:
        yield c


@pytest.fixture
def ssh(cluster):
    with cluster.ssh_remote(cluster.nodes[0]) as remote:
        yield remote


def test_exec_reports_exit_codes_output_and_timeouts(ssh):
    assert ssh.exec("hostname").stdout == "n1\n"
    result = ssh.exec("echo out; echo err >&2; exit 3", check=False)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    with pytest.raises(CommandFailed, match="exited 3: err"):
        ssh.exec("echo err >&2; exit 3")
    with pytest.raises(CommandTimeout):
        ssh.exec("sleep 30", timeout=0.5)


def test_large_outputs_on_both_streams_do_not_deadlock(ssh):
    result = ssh.exec("head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' o", timeout=30)
    assert (len(result.stdout), len(result.stderr)) == (3_000_000, 3_000_000)


def test_upload_and_download_round_trip(ssh, tmp_path: Path):
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 100)
    src.chmod(0o600)
    ssh.upload(src, "/var/lib/raftkv/ssh-copy.bin")
    assert ssh.exec("stat -c %a /var/lib/raftkv/ssh-copy.bin").stdout.strip() == "600"
    ssh.download("/var/lib/raftkv/ssh-copy.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    with pytest.raises(RemoteError, match="cannot download /nonexistent"):
        ssh.download("/nonexistent", tmp_path / "x")


def test_spawned_process_outlives_the_connection(cluster, ssh):
    ssh.exec(detached("echo $$ >/run/rj/ssh-daemon.pid; exec sleep 1000"))
    ssh.close()  # the channel and the connection are gone; the daemon must not get SIGHUP
    docker_side = cluster.nodes[0].remote
    deadline = time.monotonic() + 10
    while not (pid := docker_side.exec("cat /run/rj/ssh-daemon.pid", check=False).stdout.strip()):
        assert time.monotonic() < deadline, "the spawned command never ran"
        time.sleep(0.1)
    assert docker_side.exec(f"cat /proc/{pid}/comm").stdout.strip() == "sleep"
    docker_side.exec(f"kill -9 {pid}")


def test_an_unknown_host_key_is_refused(cluster, tmp_path: Path):
    host, port = cluster.nodes[0].ssh_addr
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with SshRemote(host, port, key_file=cluster.key_file, known_hosts=empty) as remote:
        with pytest.raises(RemoteError, match="not found in known_hosts"):
            remote.exec("true")


def test_another_nodes_host_key_is_refused(cluster, tmp_path: Path):
    n1, n2 = cluster.nodes
    # known_hosts claims n1's address has n2's key: a man in the middle, as SSH sees it.
    lines = dict(line.split(" ", 1) for line in cluster.known_hosts.read_text().splitlines())
    swapped = tmp_path / "known_hosts"
    swapped.write_text(f"[{n1.ssh_addr[0]}]:{n1.ssh_addr[1]} {lines[f'[{n2.ssh_addr[0]}]:{n2.ssh_addr[1]}']}\n")
    with SshRemote(*n1.ssh_addr, key_file=cluster.key_file, known_hosts=swapped) as remote:
        with pytest.raises(RemoteError, match="does not match"):
            remote.exec("true")


def test_a_key_the_node_does_not_authorize_is_refused(cluster, tmp_path: Path):
    stranger = tmp_path / "id_ecdsa"
    paramiko.ECDSAKey.generate().write_private_key_file(str(stranger))
    with SshRemote(*cluster.nodes[0].ssh_addr, key_file=stranger, known_hosts=cluster.known_hosts) as remote:
        with pytest.raises(RemoteError, match="authentication as root failed"):
            remote.exec("true")
