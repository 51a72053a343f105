"""The example plugin (examples/plugin) installed as a user would, with pip, into a folder of its
own (offline: no index, no build isolation), adds its system to raft-jepsen without a line of
this repository changing: `--system raftkv-plugin`, its option checked, its abilities read off
its adapter. tests/docker/test_own_raft.py runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples/plugin"


def install_plugin(target: Path) -> Path:
    """pip install the example into `target`; returns it (put it on PYTHONPATH)."""
    source = target.parent / "plugin-source"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", "--target", str(target), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.slow  # pip builds and installs a package
def test_the_installed_example_plugin_adds_its_system(tmp_path):
    site = install_plugin(tmp_path / "site")
    done = run_python("""
from raft_jepsen.harness import spec, systems
from raft_jepsen.harness.systems.base import HasPrimaries, Killable, Pausable
kind = systems.get("raftkv-plugin")
print(kind.name in systems.names(), kind.can(Killable), kind.can(Pausable), kind.can(HasPrimaries))
s = spec.build({"system": "raftkv-plugin", "system-opt": "election-timeout-ms=500", "bug": "ack-before-commit",
                "nemesis": "kill,pause"})
print(s.test_name, dict(s.system_opts))
""", site)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True True True False", "raftkv-plugin-register {'election-timeout-ms': '500'}"]
    bad = subprocess.run([sys.executable, "-m", "raft_jepsen.harness.cli", "run", "--system", "raftkv-plugin",
                          "--system-opt", "election-timeout-ms=5"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(site)}, timeout=60)
    assert bad.returncode == 3
    assert bad.stderr == ("raft-jepsen run: --system-opt election-timeout-ms: expected milliseconds between 50 and "
                          "10000, got '5'\n")
