"""A backend: where a run's nodes come from and what runs on them.

The runner only needs three factories: a cluster (nodes, up for the duration of a `with`), the
system under test on those nodes, and the nemesis package for the spec's fault kinds. `real()`
is the one `raft-jepsen run` uses (containers from the node image, or for `--remote ssh` the
hosts of a nodes file; the system adapters; the nemesis package); `raft_jepsen.harness.fakes.backend()` is
the in-memory one the runner's own tests use."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from typing import Callable, ContextManager, Iterator

from raft_jepsen import workloads
from raft_jepsen.harness import docker_env, image, nodes_file, systems
from raft_jepsen.harness.cluster import Cluster
from raft_jepsen.harness.nemesis.package import Package, package
from raft_jepsen.harness.nemesis.prepare import prepared, privileges
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.spec import Spec
from raft_jepsen.harness.systems.base import System


@dataclass(frozen=True)
class Backend:
    cluster: Callable[[Spec, Callable[[str], None]], ContextManager[list[Node]]]  # (spec, progress)
    system: Callable[[Spec, list[Node]], System]
    nemesis: Callable[[Spec, list[Node], System, random.Random], Package]


def real() -> Backend:
    return Backend(cluster=_cluster, system=make_system, nemesis=make_package)


def _cluster(spec: Spec, progress: Callable[[str], None]) -> ContextManager[list[Node]]:
    return _docker_cluster(spec, progress) if spec.remote == "docker" else _ssh_hosts(spec, progress)


@contextlib.contextmanager
def _docker_cluster(spec: Spec, progress: Callable[[str], None]) -> Iterator[list[Node]]:
    """Steps 1-2 of a run: the node image (built when missing), then the containers. Torn down on
    leaving the block, unless the spec says to leave the cluster running."""
    client = docker_env.connect()
    kind = systems.get(spec.system)
    tag = spec.image or image.ensure_image(client, progress=progress, layer=kind.image)
    caps, devices = privileges(spec.nemesis)
    cluster = Cluster(client, tag, size=spec.nodes, client_port=kind.client_port, progress=progress,
                      cap_add=caps, devices=devices)
    nodes = cluster.start()
    try:
        with prepared(spec.nemesis, nodes, kind.data_dirs, progress):
            yield nodes
    finally:
        if spec.leave_running:
            progress(f"leaving cluster {cluster.run_id} running (`raft-jepsen clean` removes it)")
        else:
            cluster.teardown()


@contextlib.contextmanager
def _ssh_hosts(spec: Spec, progress: Callable[[str], None]) -> Iterator[list[Node]]:
    """Hosts live beyond the run: there is nothing to start or remove (the system's own setup
    and teardown still run on each); the SSH sessions end with the run, not with the process."""
    kind = systems.get(spec.system)
    nodes = nodes_file.load(spec.nodes_file, client_port=kind.client_port)
    progress(f"testing {len(nodes)} hosts over SSH: {', '.join(n.name for n in nodes)}")
    try:
        with prepared(spec.nemesis, nodes, kind.data_dirs, progress):
            yield nodes
    finally:
        for node in nodes:
            node.remote.close()


def make_system(spec: Spec, nodes: list[Node]) -> System:
    """The spec's system adapter on `nodes`, from the systems table."""
    retries = workloads.get(spec.workload).CLIENT_RETRIES
    return systems.make(systems.get(spec.system), nodes, bugs=spec.bugs, options=dict(spec.system_opts),
                        client_retries=retries, bin=spec.bin)


def make_package(spec: Spec, nodes: list[Node], system: System, rng: random.Random) -> Package:
    """The nemesis package for the spec's fault kinds; partitions are proven on the system's peer port."""
    kind = systems.get(spec.system)
    return package(list(spec.nemesis), nodes=nodes, system=system, rng=rng, interval=spec.nemesis_interval,
                   probe_port=kind.peer_port, data_dirs=kind.data_dirs, timing=spec.nemesis_timing)
