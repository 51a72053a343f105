"""Fuzzing every input a user (or an attacker) hands raft-jepsen: histories in each format,
configs, suite files and run folders. The property is the same everywhere: a clean verdict or
one line with exit code 2 or 3 (1 only for a history that really is not linearizable), no
traceback, no crash of ours, bounded memory.

A short fuzz runs in CI (`RJ_FUZZ_EXAMPLES`, default 40 inputs per parser; marked slow, so out of the quick loop), measuring each
input's peak allocation with tracemalloc; the long one is the same tests with
`RJ_FUZZ_EXAMPLES=10000`, where memory is bounded instead by an address-space limit on the
process (a MemoryError is a crash of ours, exit 2, and fails the property). Each test counts the
inputs it ran into `RJ_FUZZ_COUNTS` (a file) when that is set."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import resource
import shutil
import tempfile
import tracemalloc
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raft_jepsen.harness import cli
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.cli.suite import load_suite
from raft_jepsen.harness.errors import RaftJepsenError
from tests.unit.run_fixtures import make_run

pytestmark = pytest.mark.slow  # ~15 s for all parsers: CI runs it, the quick loop does not

EXAMPLES = int(os.environ.get("RJ_FUZZ_EXAMPLES", "40"))
TRACE = EXAMPLES <= 200  # tracemalloc doubles the time of an input: the short fuzz only
LONG_FUZZ_ADDRESS_SPACE = 6 << 30
if not TRACE:
    resource.setrlimit(resource.RLIMIT_AS, (LONG_FUZZ_ADDRESS_SPACE, LONG_FUZZ_ADDRESS_SPACE))
MEMORY_BOUND = 64 << 20  # bytes allocated at peak for one input of a few kilobytes
REPORT_MEMORY_BOUND = 256 << 20  # a report of a 200-op run: the page, its SVGs and templates
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])


def _count(name: str) -> None:
    path = os.environ.get("RJ_FUZZ_COUNTS")
    if path:
        with open(path, "a") as f:
            f.write(name + "\n")


_parser = functools.cache(cli.build_parser)  # building it is most of a small input's time


def _cli(argv: list[str], bound: int = MEMORY_BOUND) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    if TRACE:
        tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch.object(cli, "build_parser", _parser):
            code = cli.main(argv)
        peak = tracemalloc.get_traced_memory()[1] if TRACE else 0
    finally:
        tracemalloc.stop()
    assert peak < bound, f"{peak >> 20} MB at peak"
    return code, out.getvalue(), err.getvalue()


def _clean(code: int, out: str, err: str, allowed: tuple[int, ...]) -> None:
    assert code in allowed, (code, out, err)
    assert "Traceback" not in out + err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith("warning: ")]
    assert len(lines) <= 1 and all(len(line) < 500 for line in lines), err


# --- strategies: values and op records ---------------------------------------------------------

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
                    st.sampled_from(["invoke", "ok", "fail", "info", "nemesis", "read", "write", "cas", "k1"]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                           max_leaves=12)
FIELDS = ["index", "type", "process", "f", "key", "value", "time", "node", "error"]


@st.composite
def op_dicts(draw):
    """Mostly well-formed ops with a field or two drawn from anywhere."""
    op = {"type": draw(st.sampled_from(["invoke", "ok", "fail", "info"])),
          "process": draw(st.one_of(st.integers(0, 4), st.just("nemesis"))),
          "f": draw(st.sampled_from(["read", "write", "cas", "add", "incr", "get", "put", "append"])),
          "key": draw(st.sampled_from(["k1", "k2", None])), "value": draw(st.one_of(st.integers(0, 3), st.none())),
          "time": draw(st.integers(0, 100))}
    for name in draw(st.lists(st.sampled_from(FIELDS + ["extra"]), max_size=2)):
        op[name] = draw(JSON_VALUES)
    if draw(st.booleans()):
        del op[draw(st.sampled_from(sorted(op)))]
    return op


def _mutate(draw, text: str) -> str:
    """Byte-level damage: cut, insert, delete, duplicate or replace a stretch of the text."""
    for _ in range(draw(st.integers(0, 3))):
        if not text:
            break
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 20)))
        kind = draw(st.sampled_from(["cut", "insert", "delete", "repeat", "replace"]))
        if kind == "cut":
            text = text[:i]
        elif kind == "insert":
            text = text[:i] + draw(st.text(alphabet=st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
                ["[" * 300, "{", "}", "]", ")", "(", '"', "\\", ";", "#", "##NaN", "NaN", "1e999", "9" * 30, "\n", ":"])) + text[i:]
        elif kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "repeat":
            text = text[:j] + text[i:j] * draw(st.integers(1, 20)) + text[j:]
        else:
            text = text[:i] + draw(st.text(max_size=3)) + text[j:]
    return text


@st.composite
def jsonl_histories(draw):
    ops = draw(st.lists(op_dicts(), max_size=12))
    text = "".join(json.dumps(op) + "\n" for op in ops)
    return _mutate(draw, text)


def _edn(value, draw) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if value == value and abs(value) != float("inf") else draw(st.sampled_from(["##NaN", "##Inf", "##-Inf"]))
    if isinstance(value, str):
        return draw(st.sampled_from([":" + value.replace(" ", "-") if value else ":x", json.dumps(value)]))
    if isinstance(value, list):
        o, c = draw(st.sampled_from([("[", "]"), ("(", ")"), ("#{", "}")]))
        return o + " ".join(_edn(v, draw) for v in value) + c
    return "{" + ", ".join(f"{_edn(k, draw)} {_edn(v, draw)}" for k, v in value.items()) + "}"


@st.composite
def edn_histories(draw):
    ops = draw(st.lists(op_dicts(), max_size=10))
    maps = []
    for op in ops:
        items = []
        for k, v in op.items():
            if k in ("type", "f") and isinstance(v, str):
                items.append(f":{k} :{v}")
            elif k == "process" and v == "nemesis":
                items.append(":process :nemesis")
            else:
                items.append(f":{k} {_edn(v, draw)}")
        prefix = draw(st.sampled_from(["", "", "#jepsen.history.Op", "#_ {:a 1} ", "; a comment\n"]))
        maps.append(prefix + "{" + draw(st.sampled_from([", ", ",\n  ", " "])).join(items) + "}")
    shape = draw(st.sampled_from(["lines", "vector", "list"]))
    text = "\n".join(maps) + "\n" if shape == "lines" else {"vector": "[{}]\n", "list": "({})\n"}[shape].format("\n ".join(maps))
    return _mutate(draw, text)


@st.composite
def porcupine_etcd_logs(draw):
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        p = draw(st.integers(0, 4))
        t = draw(st.sampled_from(["invoke", "ok", "fail", "info"]))
        f = draw(st.sampled_from(["read", "write", "cas"]))
        v = draw(st.sampled_from(["nil", "1", "2", "[1 2]", ":timed-out", "-3", "9" * 25]))
        lines.append(f"INFO  jepsen.util - {p}\t:{t}\t:{f}\t{v}")
    return _mutate(draw, "\n".join(lines) + "\n")


@st.composite
def porcupine_kv_logs(draw):
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        p = draw(st.integers(0, 4))
        t = draw(st.sampled_from(["invoke", "ok", "fail", "info"]))
        f = draw(st.sampled_from(["get", "put", "append"]))
        lines.append(f'{{:process {p}, :type :{t}, :f :{f}, :key "{draw(st.sampled_from(["0", "1"]))}", '
                     f':value {draw(st.sampled_from(["nil", chr(34) + "x" + chr(34), chr(34) + chr(34), "1"]))}}}')
    return _mutate(draw, "\n".join(lines) + "\n")


# --- histories: check ---------------------------------------------------------------------------

def _check_text(text: str, fmt: str, model: str | None = None) -> None:
    folder = tempfile.mkdtemp(prefix="rj-fuzz-")
    try:
        path = Path(folder, "history")
        path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\udc80" not in text else path.write_bytes(
            text.encode("utf-8", "surrogateescape"))
        argv = ["check", str(path), "--format", fmt, "--timeout", "5"] + (["--model", model] if model else [])
        _clean(*_cli(argv), allowed=(0, 1, 2, 3))
    finally:
        shutil.rmtree(folder)


MODELS = st.sampled_from([None, "register", "cas-register", "kv", "string-kv", "set", "counter", "fifo-queue", "etcd"])


@FUZZ
@given(jsonl_histories(), MODELS)
def test_fuzz_jsonl(text, model):
    _count("jsonl")
    _check_text(text, "jsonl", model)


@FUZZ
@given(edn_histories(), MODELS)
def test_fuzz_edn(text, model):
    _count("edn")
    _check_text(text, "edn", model)


@FUZZ
@given(porcupine_etcd_logs())
def test_fuzz_porcupine_etcd(text):
    _count("porcupine-etcd")
    _check_text(text, "porcupine-etcd")


@FUZZ
@given(porcupine_kv_logs())
def test_fuzz_porcupine_kv(text):
    _count("porcupine-kv")
    _check_text(text, "porcupine-kv")


# --- configs and suites -------------------------------------------------------------------------

OPTION_VALUES = st.one_of(JSON_VALUES, st.sampled_from(
    ["inf", "nan", "1e-300", "1e300", "-1", "0", "100000", "a\0b", "", "partition,kill", "raftkv", "register",
     "stale-read", ".inf", "ssh", "docker", "/proc/x", "/nonexistent/x.xml"]))


@st.composite
def configs(draw):
    keys = st.sampled_from(list(specs.OPTIONS) + ["bugs", "time_limit", "system_opts", "nodez"])
    config = draw(st.dictionaries(keys, OPTION_VALUES, max_size=5))
    config.setdefault("store", tempfile.gettempdir())
    return config


def _yaml_text(draw, data) -> str:
    return _mutate(draw, yaml.safe_dump(data, default_flow_style=draw(st.booleans())))


@FUZZ
@given(st.data())
def test_fuzz_configs(data):
    _count("config")
    text = _yaml_text(data.draw, data.draw(configs()))
    folder = tempfile.mkdtemp(prefix="rj-fuzz-")
    try:
        path = Path(folder, "config.yaml")
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            spec = specs.load(path)
            specs.check_paths(spec)
        except RaftJepsenError as e:
            assert "\n" not in str(e) and len(str(e)) < 500, str(e)
        else:  # a spec that passed is one the runner can take: finite, in range
            assert 0 < spec.time_limit <= 7 * 86400 and 0.01 <= spec.rate <= 100_000 and 1 <= spec.concurrency <= 1000
    finally:
        shutil.rmtree(folder)


@st.composite
def suites(draw):
    doc = {}
    if draw(st.booleans()):
        doc["options"] = draw(configs())
    if draw(st.booleans()):
        doc["matrix"] = draw(st.dictionaries(st.sampled_from(["seed", "bugs", "nemesis", "nodes", "rate"]),
                                             st.lists(OPTION_VALUES, max_size=3) | OPTION_VALUES, max_size=3))
    if draw(st.booleans()):
        doc["runs"] = draw(st.lists(configs(), max_size=3) | OPTION_VALUES)
    if draw(st.booleans()):
        doc["expect"] = draw(st.sampled_from(["valid", "invalid", "auto", "maybe", 1]))
    return doc


@FUZZ
@given(st.data())
def test_fuzz_suite_files(data):
    _count("suite")
    text = _yaml_text(data.draw, data.draw(suites()))
    folder = tempfile.mkdtemp(prefix="rj-fuzz-")
    try:
        path = Path(folder, "suite.yaml")
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        code, out, err = _cli(["suite", str(path), "--dry-run"])
        _clean(code, out, err, allowed=(0, 3))
        if code == 0:
            assert load_suite(path)  # and every planned run is a spec the runner can take
    finally:
        shutil.rmtree(folder)


# --- run folders: report ------------------------------------------------------------------------

_TEMPLATE = None


def _template() -> Path:
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = make_run(Path(tempfile.mkdtemp(prefix="rj-fuzz-run-")), n_ops=200, valid=False, seed=3)
    return _TEMPLATE


RESULT_FIELDS = ["valid", "schema", "reason", "test", "started", "started_epoch_ns", "duration_s", "seed", "bugs",
                 "nemesis", "nodes", "op_counts", "checkers", "warnings"]


@FUZZ
@given(st.data())
def test_fuzz_run_folders(data):
    _count("run-folder")
    draw = data.draw
    folder = Path(tempfile.mkdtemp(prefix="rj-fuzz-"))
    try:
        run = folder / "run"
        shutil.copytree(_template(), run)
        results = json.loads((run / "results.json").read_text())
        for name in draw(st.lists(st.sampled_from(RESULT_FIELDS), max_size=3)):
            results[name] = draw(JSON_VALUES)
        lin = results.get("checkers", {}).get("linearizable") if isinstance(results.get("checkers"), dict) else None
        if isinstance(lin, dict) and lin.get("failures") and draw(st.booleans()):
            failure = lin["failures"][0]
            for name in draw(st.lists(st.sampled_from(["ops", "stuck", "linearized", "key", "message", "state"]), max_size=2)):
                failure[name] = draw(JSON_VALUES)
            if failure.get("ops") and isinstance(failure["ops"], list) and isinstance(failure["ops"][0], dict):
                failure["ops"][0][draw(st.sampled_from(["index", "call", "return", "process", "f", "type"]))] = draw(JSON_VALUES)
        (run / "results.json").write_text(_mutate(draw, json.dumps(results)) if draw(st.booleans()) else json.dumps(results))
        history = (run / "history.jsonl").read_text()
        (run / "history.jsonl").write_text(_mutate(draw, history))
        if draw(st.booleans()):
            (run / "roles.jsonl").write_text(_mutate(draw, (run / "roles.jsonl").read_text()
                                                     if (run / "roles.jsonl").exists() else '{"time": 1, "node": "n1"}\n'))
        _clean(*_cli(["report", str(run)], REPORT_MEMORY_BOUND), allowed=(0, 3))
    finally:
        shutil.rmtree(folder)
