"""Shared fixtures of the Docker tests: one daemon connection and one node image per session
(built when missing, skipped when its inputs are unchanged)."""

from __future__ import annotations

import shlex

import pytest

from raft_jepsen.harness.docker_env import RUN_LABEL, connect
from raft_jepsen.harness.errors import EnvironmentProblem
from raft_jepsen.harness.image import ensure_image


@pytest.fixture(scope="session")
def docker_client():
    try:
        return connect()
    except EnvironmentProblem as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def node_image(docker_client) -> str:
    return ensure_image(docker_client)


def labelled(client, run_id: str) -> list[str]:
    """Names of everything still carrying this run's label."""
    label = {"label": f"{RUN_LABEL}={run_id}"}
    return [c.name for c in client.containers.list(all=True, filters=label)] + [
        n.name for n in client.networks.list(filters=label)
    ]


def detached(cmd: str) -> str:
    """A command that starts `cmd` as a daemon and returns, as `systems.daemon` does: a new
    session (no SIGHUP when the exec session or SSH channel closes), standard streams closed."""
    return f"setsid -f sh -c {shlex.quote(cmd)} </dev/null >/dev/null 2>&1"
