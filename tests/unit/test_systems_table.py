"""The systems table: a spec's `system` names a built-in system, a system file, or a plugin's entry
point (`raft_jepsen.systems`); whatever goes wrong finding one is one line."""

from __future__ import annotations

import sys
import textwrap

import pytest

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import systems
from raft_jepsen.harness.errors import UsageError


def plugin_dist(root, entry_points: str, module: str = "", name: str = "rj-test-plugin"):
    """A distribution as pip leaves it in site-packages: a dist-info with METADATA and entry
    points, and the module beside it."""
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if module:
        (root / "rj_test_plugin.py").write_text(textwrap.dedent(module))


MODULE = """\
    from raft_jepsen.harness.systems.base import SystemKind

    class Adapter:
        def __init__(self, setup): ...
        def setup(self, node): ...
        def teardown(self, node): ...
        def client(self, node): ...
        def kill(self, node, at=None): ...
        def start(self, node): ...

    KIND = SystemKind(name="plugged", about="a plugin's system", adapter=Adapter, client_port=9000, peer_port=9001,
                      workloads=("register",), bugs={"slow": "sleeps"})
    WRONG = SystemKind(name="other", about="x", adapter=Adapter, client_port=1, peer_port=2, workloads=("register",))
    NOT_A_KIND = 42
    """


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rj_test_plugin", raising=False)  # each test's own copy
    yield tmp_path
    sys.modules.pop("rj_test_plugin", None)


def test_a_plugin_entry_point_adds_a_system(site):
    plugin_dist(site, """\
        [raft_jepsen.systems]
        plugged = rj_test_plugin:KIND
        """, MODULE)
    assert "plugged" in systems.names()
    kind = systems.get("plugged")
    assert (kind.name, kind.client_port, dict(kind.bugs)) == ("plugged", 9000, {"slow": "sleeps"})
    spec = specs.build({"system": "plugged", "bug": "slow", "nemesis": "kill"})
    assert spec.system == "plugged" and spec.test_name == "plugged-register"
    with pytest.raises(UsageError, match="system plugged cannot do nemesis pause"):
        specs.build({"system": "plugged", "nemesis": "pause"})


def test_an_entry_point_may_name_a_module_exposing_kind(site):
    plugin_dist(site, """\
        [raft_jepsen.systems]
        plugged = rj_test_plugin
        """, MODULE)
    assert systems.get("plugged").name == "plugged"


@pytest.mark.parametrize("value, message", [
    ("rj_test_plugin:NOT_A_KIND", r"system plugged \(entry point rj_test_plugin:NOT_A_KIND of rj-test-plugin\) is a int, not a SystemKind"),
    ("rj_test_plugin:WRONG", r"calls itself 'other': the entry point's name must be the system's"),
    ("rj_missing_module:KIND", r"cannot be loaded: ModuleNotFoundError: No module named 'rj_missing_module'"),
])
def test_a_broken_plugin_is_one_line(site, value, message):
    plugin_dist(site, f"""\
        [raft_jepsen.systems]
        plugged = {value}
        """, MODULE)
    with pytest.raises(UsageError, match=message):
        specs.build({"system": "plugged"})


def test_an_unknown_system_names_what_is_known_and_the_file_form():
    with pytest.raises(UsageError, match=r"unknown system 'nope' \(expected one of raftkv, maelstrom.*, or a system file \*\.yaml\)"):
        specs.build({"system": "nope"})


def test_built_ins_win_over_files_and_plugins(site):
    plugin_dist(site, """\
        [raft_jepsen.systems]
        raftkv = rj_test_plugin:KIND
        """, MODULE)
    assert systems.get("raftkv").adapter.__name__ == "RaftKV"


@pytest.mark.parametrize("name, is_file", [("raftkv", False), ("my.yaml", True), ("x.yml", True),
                                           ("./mine", True), ("dir/sys", True), ("plugged", False)])
def test_what_names_a_file(name, is_file):
    assert systems.is_file_name(name) is is_file
