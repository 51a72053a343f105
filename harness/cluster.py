"""A Docker cluster for one run: a private bridge network `rj-<run>` and containers
`rj-<run>-n1`… (hostnames and DNS names n1…nN), all labelled `raft-jepsen.run=<run>`.

Clients reach each node's client port, and SSH its sshd, through ports published on 127.0.0.1
(unaffected by partitions, which cut node-to-node traffic only). Each node is exposed as a
`Node` whose remote is docker exec; `ssh_remote()` reaches the same container through its own
sshd, authenticated by a key pair generated for this run, with host keys recorded at start.

`teardown()` removes everything the run created, sweeping by label so that a container still
being created when Ctrl-C arrived goes too; it is safe to call twice, from `finally` and from
a signal handler. `with Cluster(...) as cluster:` starts and always tears down."""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import docker.errors
import paramiko
from docker.models.containers import Container

from raft_jepsen.harness.control.docker import DockerRemote
from raft_jepsen.harness.control.ssh import SshRemote
from raft_jepsen.harness.docker_env import RUN_LABEL
from raft_jepsen.harness.errors import EnvironmentProblem, UsageError
from raft_jepsen.harness.nodes import Node

SSH_PORT = 22
LOCALHOST = "127.0.0.1"
SSHD_START_TIMEOUT_S = 30.0
RUN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


# Run inside each new container (via exec): a host key of its own, the run's key authorized
# for root, sshd started (it daemonizes; tini, PID 1, reaps it), the host key printed to record.
def sshd_setup_command(public_key: str) -> str:
    return f"""set -e
ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key </dev/null
mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh
printf '%s\\n' {shlex.quote(public_key)} >/root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
/usr/sbin/sshd
cat /etc/ssh/ssh_host_ed25519_key.pub"""


def new_run_id() -> str:
    return time.strftime("%m%d%H%M") + "-" + secrets.token_hex(2)


class Cluster:
    def __init__(
        self,
        client: docker.DockerClient,
        image: str,
        *,
        size: int = 5,
        client_port: int,
        run_id: str | None = None,
        progress: Callable[[str], None] = lambda line: None,
        cap_add: Sequence[str] = (),
        devices: Sequence[str] = (),
    ):
        """`cap_add` and `devices` add to NET_ADMIN what some fault needs (SYS_ADMIN and
        /dev/fuse for a FUSE filesystem), never --privileged."""
        if not 1 <= size <= 15:
            raise UsageError(f"a cluster has 1 to 15 nodes, not {size}")
        self.run_id = run_id or new_run_id()
        if not RUN_ID.match(self.run_id):
            raise UsageError(f"run id {self.run_id!r}: use lower-case letters, digits and '-' (at most 40)")
        self.client = client
        self.image = image
        self.size = size
        self.client_port = client_port  # the system's client port, published on 127.0.0.1
        self.progress = progress
        self.cap_add = ["NET_ADMIN", *(c for c in cap_add if c != "NET_ADMIN")]
        self.devices = [f"{d}:{d}:rwm" for d in devices]
        self.network_name = f"rj-{self.run_id}"
        self.names = [f"n{i}" for i in range(1, size + 1)]
        self.nodes: list[Node] = []
        # The run's SSH key pair and the containers' host keys live here until teardown.
        self.ssh_dir = Path(tempfile.mkdtemp(prefix=f"raft-jepsen-{self.run_id}-"))
        self.key_file = self.ssh_dir / "id_ecdsa"
        self.known_hosts = self.ssh_dir / "known_hosts"

    def container_name(self, node: str) -> str:
        return f"{self.network_name}-{node}"

    def start(self) -> list[Node]:
        """Create the network and the containers, start sshd in each, and return the nodes.
        On any failure everything already created is removed before the error propagates."""
        started = time.monotonic()
        try:
            public_key = self._make_key_pair()
            network = self._create_network()
            self.progress(f"starting {self.size} containers on network {network.name}")
            with ThreadPoolExecutor(max_workers=self.size) as pool:
                booted = list(pool.map(lambda name: self._boot(name, public_key), self.names))
            self.known_hosts.write_text("".join(line for _, line in booted))
            self.nodes = [node for node, _ in booted]
        except docker.errors.DockerException as e:
            self._teardown_after_error()
            raise EnvironmentProblem(f"cannot start cluster {self.run_id}: {e}") from None
        except BaseException:
            self._teardown_after_error()
            raise
        self.progress(f"cluster {self.run_id} up in {time.monotonic() - started:.1f} s")
        return self.nodes

    def ssh_remote(self, node: Node) -> SshRemote:
        """A Remote reaching `node` through its own sshd on the published port, host key checked."""
        if node.ssh_addr is None:
            raise UsageError(f"{node.name} has no SSH address")
        host, port = node.ssh_addr
        return SshRemote(host, port, key_file=self.key_file, known_hosts=self.known_hosts, name=node.name)

    def teardown(self) -> None:
        """Remove the run's containers and network, then its key directory. Idempotent."""
        for node in self.nodes:
            node.remote.close()
        remove_labelled(self.client, f"{RUN_LABEL}={self.run_id}")
        shutil.rmtree(self.ssh_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            self.teardown()
        else:
            self._teardown_after_error()

    def _teardown_after_error(self) -> None:
        # The error that stopped the run is the one to report; a teardown failure on top of it
        # is only a warning, since `raft-jepsen clean` can still sweep the leftovers by label.
        try:
            self.teardown()
        except (EnvironmentProblem, docker.errors.DockerException) as e:
            print(f"raft-jepsen: warning: teardown of {self.run_id} incomplete ({e}); "
                  "run `raft-jepsen clean`", file=sys.stderr)

    def _make_key_pair(self) -> str:
        key = paramiko.ECDSAKey.generate()
        key.write_private_key_file(str(self.key_file))  # paramiko creates it with mode 0600
        return f"{key.get_name()} {key.get_base64()} raft-jepsen-{self.run_id}"

    def _create_network(self):
        try:
            return self.client.networks.create(
                self.network_name, driver="bridge", labels={RUN_LABEL: self.run_id}, check_duplicate=True
            )
        except docker.errors.APIError as e:
            hint = " (leaked networks? `raft-jepsen clean` removes them)" if "address pool" in str(e) else ""
            raise EnvironmentProblem(f"cannot create network {self.network_name}: {e.explanation}{hint}") from None

    def _boot(self, name: str, public_key: str) -> tuple[Node, str]:
        """Run one container and start its sshd: its Node and its known_hosts line."""
        container = self._run_container(name)
        remote = DockerRemote(container, name)
        host_key = remote.exec(sshd_setup_command(public_key), timeout=SSHD_START_TIMEOUT_S).stdout.split()
        container.reload()
        ip = container.attrs["NetworkSettings"]["Networks"][self.network_name]["IPAddress"]
        ports = container.attrs["NetworkSettings"]["Ports"]
        client_port = int(ports[f"{self.client_port}/tcp"][0]["HostPort"])
        ssh_port = int(ports[f"{SSH_PORT}/tcp"][0]["HostPort"])
        _wait_for_ssh_banner(name, ssh_port)
        node = Node(name, ip, (LOCALHOST, client_port), remote, ssh_addr=(LOCALHOST, ssh_port))
        return node, f"[{LOCALHOST}]:{ssh_port} {host_key[0]} {host_key[1]}\n"

    def _run_container(self, name: str) -> Container:
        endpoint = docker.types.EndpointConfig(self.client.api.api_version, aliases=[name])
        try:
            # create + start, not run: run would try to pull a missing image from a registry.
            container = self.client.containers.create(
                self.image,
                name=self.container_name(name),
                hostname=name,
                labels={RUN_LABEL: self.run_id},
                network=self.network_name,
                networking_config={self.network_name: endpoint},
                cap_add=self.cap_add,
                devices=self.devices,
                ports={f"{self.client_port}/tcp": (LOCALHOST, None), f"{SSH_PORT}/tcp": (LOCALHOST, None)},
            )
            container.start()
            return container
        except docker.errors.ImageNotFound:
            raise EnvironmentProblem(f"image {self.image} not found: run `raft-jepsen image build`") from None
        except docker.errors.APIError as e:
            raise EnvironmentProblem(f"cannot start container {self.container_name(name)}: {e.explanation}") from None


def _wait_for_ssh_banner(name: str, port: int) -> None:
    """sshd is up once the published port answers with an SSH banner (docker-proxy accepts
    connections before anything listens behind it, so a bare connect proves nothing)."""
    deadline = time.monotonic() + SSHD_START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection((LOCALHOST, port), timeout=2) as sock:
                if sock.recv(8).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise EnvironmentProblem(f"{name}: sshd did not answer on {LOCALHOST}:{port} within {SSHD_START_TIMEOUT_S:g} s")
        time.sleep(0.05)


def remove_labelled(client: docker.DockerClient, label: str) -> list[str]:
    """Remove every container, then every network, matching the label filter `label`
    (`key` or `key=value`); the names of what was removed. Already-gone objects are skipped."""
    try:
        containers = client.containers.list(all=True, filters={"label": label})
        with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
            removed = [name for name in pool.map(_remove_container, containers) if name]
        for network in client.networks.list(filters={"label": label}):
            if _remove_network(network):
                removed.append(network.name)
    except docker.errors.APIError as e:
        raise EnvironmentProblem(f"cannot list what is labelled {label}: {e.explanation}") from None
    return removed


def _remove_container(container: Container) -> str | None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        return None  # already gone: a second teardown, or a concurrent `clean`
    except docker.errors.APIError as e:
        if e.status_code == 409:  # removal already in progress elsewhere
            return None
        raise EnvironmentProblem(f"cannot remove container {container.name}: {e.explanation}") from None
    return container.name


def _remove_network(network) -> bool:
    try:
        network.remove()
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:
        raise EnvironmentProblem(f"cannot remove network {network.name}: {e.explanation}") from None
    return True
