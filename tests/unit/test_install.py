"""Files from the host put into nodes: one archive per source, modes kept, owned by root, unpacked
where the system file says, bytecode left behind."""

from __future__ import annotations

import tarfile

import pytest

from raft_jepsen.harness.control.base import NullRemote
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.nodes import Node
from raft_jepsen.harness.systems.install import Installer


def test_a_folder_travels_as_one_archive_with_its_modes(tmp_path):
    src = tmp_path / "dist"
    (src / "bin").mkdir(parents=True)
    (src / "bin/node").write_text("#!/bin/sh\n")
    (src / "bin/node").chmod(0o755)
    (src / "conf.toml").write_text("x = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__/m.pyc").write_bytes(b"\0")
    installer = Installer([(src, "/opt/mine")])
    nodes = [Node(f"n{i}", "10.0.0.1", ("127.0.0.1", 1), NullRemote(f"n{i}")) for i in (1, 2)]
    for node in nodes:
        installer.install(node)
    uploads = [call for node in nodes for call in node.remote.calls if call[0] == "upload"]
    assert len({src for _, src, _ in uploads}) == 1  # built once, sent to each node
    with tarfile.open(uploads[0][1]) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"mine", "mine/bin", "mine/bin/node", "mine/conf.toml"}
    assert members["mine/bin/node"].mode & 0o111 and not members["mine/conf.toml"].mode & 0o111
    assert {(m.uid, m.gid, m.uname) for m in members.values()} == {(0, 0, "root")}
    execs = [call[1] for call in nodes[0].remote.calls if call[0] == "exec"]
    assert execs[0] == "rm -rf /opt/mine && mkdir -p /opt" and "-C /opt" in execs[1]
    installer.close()


def test_what_cannot_be_installed_is_refused_up_front(tmp_path):
    with pytest.raises(UsageError, match="no such file or folder"):
        Installer([(tmp_path / "nope", "/opt/x")])
    with pytest.raises(UsageError, match="must be absolute"):
        Installer([(tmp_path, "opt/x")])
