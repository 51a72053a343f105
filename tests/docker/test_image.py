"""The node image: rebuilt only when its inputs change, and shaped as the container
conventions say (tini as PID 1 running sleep, no baked-in host keys, the tools faults need)."""

from __future__ import annotations

import pytest

from raft_jepsen.harness import image

pytestmark = pytest.mark.docker


def test_unchanged_inputs_skip_the_build(docker_client, node_image):
    before = docker_client.images.get(node_image)
    lines: list[str] = []
    assert image.ensure_image(docker_client, progress=lines.append) == node_image
    assert docker_client.images.get(image.TAG).id == docker_client.images.get(node_image).id
    assert not any("docker build" in line or "bootstrapping" in line for line in lines), lines
    assert any("up to date" in line for line in lines), lines
    after = docker_client.images.get(node_image)
    assert after.id == before.id
    assert len(after.labels[image.HASH_LABEL]) == 64


def test_init_is_tini_and_the_default_command_sleeps(docker_client, node_image):
    config = docker_client.images.get(node_image).attrs["Config"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["Cmd"] == ["sleep", "infinity"]


def test_image_has_the_fault_tools_and_no_host_keys(docker_client, node_image):
    script = (
        "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l; "
        "for t in python3 iptables-nft ip tc pgrep sshd faketime etcd tini; do command -v $t >/dev/null && echo $t; done; "
        "test -f /opt/raftkv/raftkv/__init__.py && echo raftkv; "
        "test -d /var/lib/raftkv && test -d /var/log/rj && test -d /run/rj && echo dirs"
    )
    output = docker_client.containers.run(node_image, ["sh", "-c", script], remove=True).decode().split()
    assert output == ["0", "python3", "iptables-nft", "ip", "tc", "pgrep", "sshd", "faketime", "etcd", "tini", "raftkv", "dirs"]
