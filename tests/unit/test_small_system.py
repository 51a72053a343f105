"""A system is one module: a whole system under test registered in a few lines, run through the
real runner, generator and nemesis package on the in-memory backend, with nothing generic changed.
And what it cannot do is refused before any node would start."""

import re

import pytest

from raft_jepsen.harness import fakes, runner, systems
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.errors import UsageError
from raft_jepsen.harness.history import CAS_MISMATCH, read_jsonl
from raft_jepsen.harness.systems.base import SystemKind


class DictKV:
    """One dict behind a lock is a linearizable register store; a killed node refuses."""

    def __init__(self, setup):
        self.data, self.down = {}, set()

    def setup(self, node): ...

    def teardown(self, node): ...

    def kill(self, node, at=None):
        self.down.add(node.name)

    def start(self, node):
        self.down.discard(node.name)

    def client(self, node):
        return DictClient(self)


class DictClient:
    def __init__(self, system):
        self.system, self.node = system, None

    def open(self, node):
        self.node = node.name

    def invoke(self, op):
        data = self.system.data
        if self.node in self.system.down:
            return op.completed("fail", error="down")
        if op.f == "read":
            return op.completed("ok", value=data.get(op.key))
        if op.f == "write":
            data[op.key] = op.value
            return op.completed("ok")
        old, new = op.value
        if data.get(op.key) != old:
            return op.completed("fail", error=CAS_MISMATCH)
        data[op.key] = new
        return op.completed("ok")

    def close(self): ...


@pytest.fixture
def dictkv():
    systems.register(SystemKind(name="dictkv", about="a dict", adapter=DictKV, client_port=1, peer_port=2,
                                workloads=("register",), bugs={"none-yet": "a switch of its own"}))
    yield
    systems._REGISTERED.pop("dictkv")


def spec(tmp_path, **options):
    return specs.build({"system": "dictkv", "nodes": 3, "concurrency": 4, "time-limit": 1, "rate": 200,
                        "nemesis": "kill", "nemesis-interval": 0.3, "recovery-time": 0.1, "seed": 3,
                        "store": str(tmp_path), **options})


@pytest.mark.slow  # a whole run, in real time
def test_a_registered_system_runs_end_to_end_with_real_faults(tmp_path, dictkv):
    result = runner.run(spec(tmp_path), backend=fakes.backend())
    assert (result.valid, result.results["system"]) == (True, "dictkv")
    history = list(read_jsonl(result.run_dir / "history.jsonl"))
    kills = [op for op in history if op.f == "kill"]
    assert kills and all(op.value["nodes"] for op in kills if op.value.get("target") != "leader")
    assert any(op.type == "fail" and op.error == "down" for op in history)  # the kills took effect


@pytest.mark.parametrize("options, message", [
    ({"workload": "append"}, "system dictkv cannot run workload 'append' (it runs register)"),
    ({"bug": "stale-read"}, "unknown bug 'stale-read' for system dictkv (its switches: none-yet)"),
    ({"nemesis": "pause"}, "system dictkv cannot do nemesis pause (its adapter is not Pausable)"),
    ({"nemesis": "partition-leader"}, "system dictkv cannot do nemesis partition-leader"),
    ({"system-opt": "reads=serializable"}, "system dictkv has no option 'reads' (its options: none)"),
])
def test_what_a_system_cannot_do_is_refused_before_any_node_starts(tmp_path, dictkv, options, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        spec(tmp_path, **options)
