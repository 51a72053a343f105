"""A system described in YAML (`--system FILE.yaml`): the shipped description of raftkv, what the
adapter does with a file, and every mistake in a file refused in one line naming the field, exit
3, before any container could start."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from raft_jepsen.harness import spec as specs
from raft_jepsen.harness import systems
from raft_jepsen.harness.cli import main as cli_main
from raft_jepsen.harness.control.base import NullRemote, Result
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.systems import described
from raft_jepsen.harness.systems.base import HasLogs, HasPrimaries, HasRoleLog, Killable, Pausable
from raft_jepsen.node_image.raftkv.bugs import BUGS
from raft_jepsen.workloads import WORKLOADS

REPO = Path(__file__).resolve().parents[2]
RAFTKV_YAML = REPO / "examples/systems/raftkv.yaml"

MINIMAL = {
    "name": "mine",
    "client-port": 8000,
    "peer-port": 7000,
    "start": "/opt/mine/node --id {id} --peers {peers} --data {data_dir}",
}


def write(tmp_path: Path, data, name="system.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def nodes(n=3, remote=None):
    from raft_jepsen.harness.nodes import Node

    return [Node(f"n{i}", f"10.0.0.{i}", ("127.0.0.1", 9000 + i), remote or NullRemote(f"n{i}")) for i in range(1, n + 1)]


def test_raftkv_described_in_yaml_is_raftkv_with_every_switch():
    kind = systems.get(str(RAFTKV_YAML))
    builtin = systems.get("raftkv")
    assert kind.name == "raftkv-yaml"
    assert (kind.client_port, kind.peer_port) == (builtin.client_port, builtin.peer_port)
    assert set(kind.bugs) == set(BUGS) and set(kind.workloads) == set(builtin.workloads)
    assert [a.__name__ for a in (Killable, Pausable, HasPrimaries, HasLogs, HasRoleLog) if kind.can(a)] == [
        "Killable", "Pausable", "HasPrimaries", "HasLogs", "HasRoleLog"]


def test_the_command_has_every_placeholder_filled_and_bug_switches_appended():
    kind = systems.get(str(RAFTKV_YAML))
    system = systems.make(kind, nodes(), bugs=["ack-before-commit"])
    assert system.description.command(system.setup_, nodes()[1]) == [
        "python3", "-m", "raftkv", "--id", "n2", "--peers", "n1=10.0.0.1:7000,n2=10.0.0.2:7000,n3=10.0.0.3:7000",
        "--data", "/var/lib/raftkv-yaml", "--client-port", "8000", "--simulate-page-cache",
        "--bug", "ack-before-commit"]


def test_peers_index_count_and_env_placeholders(tmp_path):
    path = write(tmp_path, {**MINIMAL, "start": ["/opt/x", "{index}", "{count}", "{peers}", "{client_port}"],
                            "node": "http://{ip}:{peer_port}", "separator": " ", "env": {"ME": "{id}@{ip}"}})
    system = systems.make(described.load(path), nodes())
    node = nodes()[0]
    assert system.description.command(system.setup_, node) == [
        "/opt/x", "1", "3", "http://10.0.0.2:7000 http://10.0.0.3:7000", "8000"]
    system.start(node)
    script = node.remote.calls[-1][1]
    assert "export ME=n1@10.0.0.1;" in script and "exec /opt/x 1 3" in script


def test_setup_wipes_data_installs_files_and_starts_teardown_wipes(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/node").write_text("#!/bin/sh\n")
    path = write(tmp_path, {**MINIMAL, "install": [{"from": "bin", "to": "/opt/mine"}], "data-dir": "/var/lib/mine",
                            "logs": ["/var/log/mine/raft.log"]})
    system = systems.make(described.load(path), nodes())
    node = nodes()[0]
    system.setup(node)
    calls = [c[1] if c[0] == "exec" else c for c in node.remote.calls]
    # emptied, never removed: it may be the lose-unsynced fault's mount point
    assert any("find /var/lib/mine -mindepth 1 -delete" in c for c in calls if isinstance(c, str))
    uploads = [c for c in calls if isinstance(c, tuple) and c[0] == "upload"]
    assert len(uploads) == 1 and uploads[0][2].startswith("/tmp/rj-install-")
    assert any("tar -xf" in c and "-C /opt" in c for c in calls if isinstance(c, str))
    assert "exec /opt/mine/node" in calls[-1]
    assert system.log_files(node) == ["/var/log/rj/node.log", "/var/log/mine/raft.log"]
    system.installer.close()


def test_role_changes_are_read_from_raftkv_log_lines():
    system = systems.make(systems.get(str(RAFTKV_YAML)), nodes())
    record = {"ts": 1764680000.25, "node": "n1", "event": "role", "term": 3, "role": "leader", "leader": "n1"}
    line = json.dumps(record, separators=(",", ":"))  # raftkv's own formatting (raftkv/events.py)
    follower = line.replace('"leader":"n1"', '"leader":null').replace('"role":"leader"', '"role":"follower"')
    changes = list(system.role_changes("n1", [line, "garbage", follower, line[:40]]))
    assert [(c.time, c.role, c.term, c.leader) for c in changes] == [
        (1764680000250000000, "leader", 3, "n1"), (1764680000250000000, "follower", 3, None)]


def test_role_changes_from_a_text_log_with_a_strptime_time_and_own_role_names(tmp_path):
    path = write(tmp_path, {**MINIMAL, "roles": {
        "pattern": r"^(?P<time>\S+ \S+) .*became (?P<role>\w+) at term (?P<term>\d+)",
        "time": "%Y-%m-%d %H:%M:%S.%f", "names": {"LEADER": "leader", "FOLLOWER": "follower"}}})
    system = systems.make(described.load(path), nodes())
    changes = list(system.role_changes("n2", ["2026-12-02 05:00:01.500 INFO raft: became LEADER at term 4"]))
    assert [(c.time, c.node, c.role, c.term) for c in changes] == [(1796187601500000000, "n2", "leader", 4)]


def test_leader_by_command_takes_the_highest_term(tmp_path):
    path = write(tmp_path, {**MINIMAL, "leader": {"command": "cat /var/lib/rj/data/role"}})
    answers = {"n1": "leader 3\n", "n2": "leader 4\n", "n3": "follower 4\n"}
    cluster = [n for n in nodes()]
    cluster = [type(n)(n.name, n.ip, n.client_addr, NullRemote(n.name, respond=lambda cmd, a=answers[n.name]: Result(0, a, "")))
               for n in cluster]
    system = systems.make(described.load(path), cluster)
    assert system.primaries(cluster) == ["n2"]


def test_the_spec_records_the_file_absolutely_and_names_the_test_after_the_system(tmp_path, monkeypatch):
    monkeypatch.chdir(RAFTKV_YAML.parent)
    spec = specs.build({"system": "raftkv.yaml", "bug": "ack-before-commit", "seed": 1, "store": str(tmp_path)})
    assert spec.system == str(RAFTKV_YAML) and spec.test_name == "raftkv-yaml-register"
    monkeypatch.chdir(tmp_path)
    replayed = specs.build(yaml.safe_load(specs.dump(spec)), source="test.yaml")
    assert replayed == spec


def test_the_workloads_a_file_may_name_are_the_harness_workloads():
    assert set(described.WORKLOADS) == set(WORKLOADS)


BAD = [
    ("name: [x", "not valid YAML"),
    ({**MINIMAL, "nmae": "x"}, "nmae: unknown field"),
    ({k: v for k, v in MINIMAL.items() if k != "name"}, "name: missing (required)"),
    ({**MINIMAL, "name": "My System"}, "name: use lower-case letters"),
    ({k: v for k, v in MINIMAL.items() if k != "client-port"}, "client-port: missing (required)"),
    ({**MINIMAL, "peer-port": 70000}, "peer-port: expected a port number"),
    ({k: v for k, v in MINIMAL.items() if k != "start"}, "start: missing (required)"),
    ({**MINIMAL, "start": "/opt/x --id {node_id}"}, "start: unknown placeholder {node_id} (known: {id}"),
    ({**MINIMAL, "start": "/opt/x --id {id"}, "start: '{id': bad braces"),
    ({**MINIMAL, "start": "/opt/x 'unclosed"}, "start: cannot split the command"),
    ({**MINIMAL, "start": 7}, "start: expected a command"),
    ({**MINIMAL, "env": {"A-B": "x"}}, "env: 'A-B' is not a variable name"),
    ({**MINIMAL, "env": {"A": "{bug}"}}, "env: A: unknown placeholder {bug}"),
    ({**MINIMAL, "node": "{id}={peers}"}, "node: unknown placeholder {peers}"),
    ({**MINIMAL, "data-dir": "data"}, "data-dir: expected an absolute path"),
    ({**MINIMAL, "data-dir": "/var"}, "data-dir: /var is wiped at every setup"),
    ({**MINIMAL, "log": "/var/log/rj/"}, None),  # a folder-looking path is still a path: accepted
    ({**MINIMAL, "logs": ["rel.log"]}, "logs: expected absolute paths"),
    ({**MINIMAL, "install": [{"from": "nowhere", "to": "/opt/x"}]}, "install[0].from: nowhere: no such file"),
    ({**MINIMAL, "install": [{"from": ".", "to": "opt"}]}, "install[0].to: expected an absolute path"),
    ({**MINIMAL, "install": [{"src": ".", "to": "/opt"}]}, "install[0]: expected {from: PATH"),
    ({**MINIMAL, "install": {"from": ".", "to": "/opt"}}, "install: expected a list"),
    ({**MINIMAL, "image": {"packages": ["Bad Name"]}}, "image.packages: 'Bad Name' is not a Debian package name"),
    ({**MINIMAL, "image": {"apt": ["jq"]}}, "image: unknown field 'apt'"),
    ({**MINIMAL, "image": {"run": [3]}}, "image.run: expected a list of strings"),
    ({**MINIMAL, "leader": "ask"}, "leader: expected `status`"),
    ({**MINIMAL, "roles": {"pattern": "(?P<role>x"}}, "roles.pattern: not a regular expression"),
    ({**MINIMAL, "roles": {"pattern": "(?P<role>\\w+)"}}, "roles.pattern: needs the named group(s) (?P<time>...)"),
    ({**MINIMAL, "roles": {"pattern": "(?P<time>\\S+) (?P<role>\\w+) (?P<who>\\w+)"}}, "roles.pattern: unknown named group 'who'"),
    ({**MINIMAL, "roles": {"pattern": "(?P<time>\\S+) (?P<role>\\w+)", "time": "iso"}}, "roles.time: expected epoch"),
    ({**MINIMAL, "roles": {"pattern": "(?P<time>\\S+) (?P<role>\\w+)", "names": {"L": "boss"}}}, "roles.names:"),
    ({**MINIMAL, "workloads": ["bank"]}, "workloads: unknown workload 'bank'"),
    ({**MINIMAL, "workloads": []}, "workloads: empty"),
    ({**MINIMAL, "bugs": ["ack"]}, "bugs: expected a mapping"),
    ({**MINIMAL, "bugs": {"ack before": "x"}}, "bugs: 'ack before' is not a switch name"),
    ({**MINIMAL, "bug-args": "--bug {name}"}, "bug-args: unknown placeholder {name} (known: {bug})"),
    ({**MINIMAL, "raft-jepsen-system": 2}, "raft-jepsen-system: this raft-jepsen reads version 1"),
    ("- a list", "expected a mapping"),
]


@pytest.mark.parametrize("data, message", BAD)
def test_every_mistake_is_one_line_naming_the_field(tmp_path, data, message):
    path = write(tmp_path, data)
    if message is None:
        described.load(path)
        return
    with pytest.raises(UsageError) as caught:
        described.load(path)
    text = str(caught.value)
    assert message in text and "\n" not in text and text.startswith(str(path))


def test_a_bad_file_is_exit_3_with_one_line_before_any_container(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, {**MINIMAL, "start": "/opt/x {nodez}"})

    def no_docker(*args, **kwargs):
        raise AssertionError("Docker was asked for")

    monkeypatch.setattr("raft_jepsen.harness.docker_env.connect", no_docker)
    code = cli_main(["run", "--system", str(path), "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1
    assert re.fullmatch(rf"raft-jepsen run: {re.escape(str(path))}: start: unknown placeholder {{nodez}} .*\n", err)
    assert not (tmp_path / "store").exists()


def test_a_missing_file_and_an_unknown_bug_are_one_line_too(tmp_path):
    with pytest.raises(UsageError, match=r"system file .*nope.yaml: cannot read \(No such file or directory\)"):
        specs.build({"system": str(tmp_path / "nope.yaml")})
    path = write(tmp_path, textwrap.dedent("""\
        name: mine
        client-port: 8000
        peer-port: 7000
        start: /opt/x
        bugs: {lazy: fsync later}
        """))
    with pytest.raises(UsageError, match=r"unknown bug 'stale-read' for system mine \(its switches: lazy\)"):
        specs.build({"system": str(path), "bug": "stale-read"})
    with pytest.raises(UsageError, match="system mine cannot do nemesis partition-leader"):
        specs.build({"system": str(path), "nemesis": "partition-leader"})
