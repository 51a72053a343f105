"""The Docker daemon connection, and the label that marks everything raft-jepsen creates.

Every command that needs Docker connects through `connect()`, so "no daemon" is always the
same one line (an `EnvironmentProblem`, exit 3) instead of a requests traceback."""

from __future__ import annotations

import os

import docker
import docker.errors

from raft_jepsen.harness.errors import EnvironmentProblem

# Every container and network carries `raft-jepsen.run=<run id>`: teardown and `clean` sweep by it.
RUN_LABEL = "raft-jepsen.run"


def connect() -> docker.DockerClient:
    """A client for the daemon named by the environment (DOCKER_HOST, else the default socket)."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as e:
        raise EnvironmentProblem(f"no Docker daemon reachable at {host} ({_reason(e)})") from None
    return client


def _reason(e: Exception) -> str:
    text = str(e)
    if "Permission denied" in text:
        return "permission denied: is this user allowed to use Docker?"
    if "No such file" in text or "Connection refused" in text:
        return "nothing listening: is Docker running?"
    return (text.strip().splitlines() or [type(e).__name__])[0]
