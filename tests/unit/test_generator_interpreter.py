"""The interpreter with real worker threads and scripted clients: what it records."""

import threading
import time

from raft_jepsen.harness.fakes import nodes as fake_nodes
from raft_jepsen.harness.generator.core import (
    Limit,
    Once,
    Repeatedly,
    clients,
    seq,
    with_nemesis,
)
from raft_jepsen.harness.history import HistoryWriter, pair, read_jsonl
from raft_jepsen.harness.interpreter import Interpreter
from raft_jepsen.harness.nemesis.base import NoopNemesis

READ = {"f": "read", "key": "k", "value": None}


class ScriptedClient:
    """Answers each op with `answer(op, node)`: an Op, or an exception to raise."""

    def __init__(self, answer):
        self.answer = answer
        self.node = None

    def open(self, node):
        self.node = node.name

    def invoke(self, op):
        result = self.answer(op, self.node)
        if isinstance(result, Exception):
            raise result
        return result

    def close(self):
        pass


def interpret(tmp_path, gen, answer=None, *, open_client=None, nemesis_=None, stop=None, observer=lambda op: None, concurrency=2):
    nodes = fake_nodes(3)
    path = tmp_path / "history.jsonl"
    t0 = time.monotonic_ns()

    def default_open(node):
        client = ScriptedClient(answer)
        client.open(node)
        return client

    with HistoryWriter(path) as writer:
        interpreter = Interpreter(
            nodes=nodes,
            open_client=open_client or default_open,
            nemesis=nemesis_ or NoopNemesis(),
            writer=writer,
            concurrency=concurrency,
            seed=1,
            clock=lambda: time.monotonic_ns() - t0,
            stop=stop or threading.Event(),
            observer=observer,
        )
        try:
            finished = interpreter.run(gen)
        finally:
            interpreter.close()
    return finished, list(read_jsonl(path))


def test_a_client_exception_is_info_and_retires_the_process(tmp_path):
    def answer(op, node):
        return RuntimeError("boom") if op.process == 0 else op.completed("ok")

    finished, history = interpret(tmp_path, clients(Limit(10, Repeatedly(lambda r: READ))), answer)
    assert finished
    infos = [op for op in history if op.type == "info"]
    assert infos and all(op.error == "RuntimeError: boom" for op in infos)
    calls = pair(history)  # well formed: no process reused after its info
    assert len(calls) == 10 and all(c.complete is not None for c in calls)


def test_a_client_that_cannot_open_gives_fail(tmp_path):
    def open_client(node):
        raise ConnectionRefusedError("refused")

    _, history = interpret(tmp_path, clients(Limit(3, Repeatedly(lambda r: READ))), open_client=open_client)
    completions = [op for op in history if op.type != "invoke"]
    assert [op.type for op in completions] == ["fail"] * 3
    assert all(op.error.startswith("no client: ConnectionRefusedError") for op in completions)


def test_an_op_naming_a_node_goes_through_that_node(tmp_path):
    reads = seq(*(Once({**READ, "node": n}) for n in ("n1", "n2", "n3")))
    _, history = interpret(tmp_path, clients(reads), lambda op, node: op.completed("ok", value=node))
    assert sorted((op.node, op.value) for op in history if op.type == "ok") == [("n1", "n1"), ("n2", "n2"), ("n3", "n3")]


def test_fault_ops_are_single_info_records_and_a_failing_nemesis_is_recorded_not_raised(tmp_path):
    class Nemesis(NoopNemesis):
        def invoke(self, op):
            if op.f == "kill":
                raise OSError("no such node")
            return op.completed("info", value={"nodes": ["n2"]})

    gen = with_nemesis(seq(Once({"f": "start-partition"}), Once({"f": "kill"})), Limit(2, Repeatedly(lambda r: READ)))
    _, history = interpret(tmp_path, gen, lambda op, node: op.completed("ok"), nemesis_=Nemesis())
    faults = [op for op in history if op.process == "nemesis"]
    assert [(op.type, op.f) for op in faults] == [("info", "start-partition"), ("info", "kill")]
    assert faults[0].value == {"nodes": ["n2"]}
    assert faults[1].error == "nemesis failed: OSError: no such node"


def test_stop_ends_the_run_and_records_outstanding_ops_as_info(tmp_path):
    stop, release = threading.Event(), threading.Event()

    def answer(op, node):
        release.wait(10)  # every op hangs until the interpreter has given up on it
        return op.completed("ok")

    def observer(op):
        if op.type == "invoke":
            stop.set()
        if op.error == "interrupted":
            release.set()

    finished, history = interpret(tmp_path, clients(Repeatedly(lambda r: READ)), answer, stop=stop, observer=observer)
    assert not finished
    assert [(op.type, op.error) for op in history[-1:]] == [("info", "interrupted")]
    assert all(c.complete is not None for c in pair(history))


def test_times_are_in_order_of_the_file(tmp_path):
    _, history = interpret(tmp_path, clients(Limit(30, Repeatedly(lambda r: READ))), lambda op, node: op.completed("ok"))
    times = [op.time for op in history]
    assert times == sorted(times)
    assert [op.index for op in history] == list(range(len(history)))


def test_a_client_returning_nonsense_is_info_not_a_hung_run(tmp_path):
    finished, history = interpret(tmp_path, clients(Limit(2, Repeatedly(lambda r: READ))), lambda op, node: None)
    assert finished
    assert [op.type for op in history if op.type != "invoke"] == ["info", "info"]
    assert all("not a completion" in op.error for op in history if op.type == "info")
