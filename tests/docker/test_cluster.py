"""The Docker cluster: names, labels, addresses and capabilities as the container conventions
say; docker exec and file copies; iptables and kill -9 inside a NET_ADMIN-only container; and
teardown (or `clean`) leaving nothing labelled behind."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from raft_jepsen.harness import cli
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.control.base import CommandFailed, CommandTimeout
from raft_jepsen.harness.docker_env import RUN_LABEL
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.systems.raftkv import CLIENT_PORT
from tests.docker.conftest import detached, labelled

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cluster(docker_client, node_image):
    with Cluster(docker_client, node_image, size=3, client_port=CLIENT_PORT) as c:
        yield c


def until(predicate, what: str, deadline_s: float = 10.0):
    deadline = time.monotonic() + deadline_s
    while not (result := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s} s")
        time.sleep(0.1)
    return result


def test_nodes_follow_the_container_conventions(cluster, docker_client):
    assert [n.name for n in cluster.nodes] == ["n1", "n2", "n3"]
    network = docker_client.networks.get(f"rj-{cluster.run_id}")
    assert network.attrs["Labels"] == {RUN_LABEL: cluster.run_id}
    for node in cluster.nodes:
        container = docker_client.containers.get(f"rj-{cluster.run_id}-{node.name}")
        host_config = container.attrs["HostConfig"]
        assert container.labels[RUN_LABEL] == cluster.run_id
        assert host_config["CapAdd"] == ["NET_ADMIN"] and not host_config["Privileged"]
        assert node.client_addr[0] == node.ssh_addr[0] == "127.0.0.1"
        for port in ("8000/tcp", "22/tcp"):
            [binding] = container.attrs["NetworkSettings"]["Ports"][port]
            assert binding["HostIp"] == "127.0.0.1"
        assert node.remote.exec("hostname").stdout.strip() == node.name


def test_peers_resolve_each_other_by_hostname(cluster):
    n1 = cluster.nodes[0]
    resolved = dict(line.split()[::-1] for line in n1.remote.exec("getent hosts n1 n2 n3").stdout.splitlines())
    assert resolved == {n.name: n.ip for n in cluster.nodes}


def test_docker_exec_reports_exit_codes_output_and_timeouts(cluster):
    remote = cluster.nodes[0].remote
    result = remote.exec("echo out; echo err >&2; exit 3", check=False)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    with pytest.raises(CommandFailed, match="exited 3: err"):
        remote.exec("echo err >&2; exit 3")
    with pytest.raises(CommandTimeout):
        remote.exec("sleep 30", timeout=0.5)
    # The timed-out command was stopped, not left running.
    assert remote.exec("pgrep -x 'sleep' -a | grep -c 'sleep 30'", check=False).stdout.strip() == "0"


def test_docker_upload_and_download_round_trip(cluster, tmp_path: Path):
    remote = cluster.nodes[1].remote
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 100)
    src.chmod(0o640)
    remote.upload(src, "/var/lib/raftkv/copy.bin")
    assert remote.exec("stat -c '%a %U' /var/lib/raftkv/copy.bin").stdout.split() == ["640", "root"]
    remote.download("/var/lib/raftkv/copy.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == src.read_bytes()
    with pytest.raises(EnvironmentProblem, match="cannot download /nonexistent"):
        remote.download("/nonexistent", tmp_path / "x")


def test_iptables_nft_cuts_and_heals_a_peer(cluster):
    n1, n2, _ = cluster.nodes
    reach_n1 = f"python3 -c \"import socket; socket.create_connection(('{n1.ip}', 22), timeout=1)\""
    assert n2.remote.exec(reach_n1, check=False).ok
    n1.remote.exec(f"iptables-nft -w -N RJ && iptables-nft -w -I INPUT 1 -j RJ && iptables-nft -w -A RJ -s {n2.ip} -j DROP")
    try:
        assert not n2.remote.exec(reach_n1, check=False).ok
    finally:
        n1.remote.exec("iptables-nft -w -F RJ")
    assert n2.remote.exec(reach_n1, check=False).ok


def test_kill_9_of_a_spawned_process_is_reaped_not_a_zombie(cluster):
    remote = cluster.nodes[2].remote
    remote.exec(detached("echo $$ >/run/rj/victim.pid; exec sleep 1000"))
    pid = until(lambda: remote.exec("cat /run/rj/victim.pid", check=False).stdout.strip(), "pid file written")
    assert remote.exec(f"cat /proc/{pid}/cmdline | tr '\\0' ' '").stdout.strip() == "sleep 1000"
    assert remote.exec("cat /proc/1/comm").stdout.strip() == "tini"  # the victim is not PID 1
    remote.exec(f"kill -9 {pid}")
    until(lambda: not remote.exec(f"test -e /proc/{pid}", check=False).ok, f"pid {pid} reaped")


def test_teardown_leaves_nothing_labelled_and_can_run_twice(docker_client, node_image):
    cluster = Cluster(docker_client, node_image, size=2, client_port=CLIENT_PORT)
    cluster.start()
    assert len(labelled(docker_client, cluster.run_id)) == 3  # two containers, one network
    cluster.teardown()
    cluster.teardown()
    assert labelled(docker_client, cluster.run_id) == []
    assert not cluster.ssh_dir.exists()


def test_an_interrupted_run_leaves_nothing_labelled(docker_client, node_image):
    with pytest.raises(KeyboardInterrupt):
        with Cluster(docker_client, node_image, size=1, client_port=CLIENT_PORT) as cluster:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a run
    assert labelled(docker_client, cluster.run_id) == []
    assert not cluster.ssh_dir.exists()


def test_a_failed_start_removes_what_it_created(docker_client):
    cluster = Cluster(docker_client, "raft-jepsen-node:no-such-version", size=2, client_port=CLIENT_PORT)
    with pytest.raises(EnvironmentProblem, match="not found"):
        cluster.start()
    assert labelled(docker_client, cluster.run_id) == []


def test_clean_removes_a_killed_runs_leftovers(docker_client, node_image, capsys):
    leftover = Cluster(docker_client, node_image, size=1, client_port=CLIENT_PORT)
    leftover.start()  # never torn down, as when the harness is killed
    # --run: other runs may share this daemon.
    assert cli.main(["clean", "--run", leftover.run_id]) == 0
    assert labelled(docker_client, leftover.run_id) == []
    out = capsys.readouterr().out
    assert f"removed rj-{leftover.run_id}-n1" in out and f"removed rj-{leftover.run_id}\n" in out
