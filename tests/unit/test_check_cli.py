"""`raft-jepsen check`: verdicts, explanations and exit codes."""

import json
from pathlib import Path

import pytest

from raft_jepsen.harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
ETCD_040 = ROOT / "tests" / "data" / "porcupine" / "jepsen" / "etcd_040.log"


def test_valid_example_exits_0(capsys):
    assert main(["check", str(ROOT / "examples" / "register-ok.jsonl")]) == 0
    assert capsys.readouterr().out.startswith("linearizable (cas-register model")


def test_invalid_example_exits_1_and_explains(capsys):
    assert main(["check", str(ROOT / "examples" / "register-bad.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "NOT linearizable" in out
    assert "key 'k1'" in out and "read → 1 (op 5) cannot take effect" in out
    assert "could not go next: op 5: process 2 read null → ok 1, called at 5000" in out
    # a stale read: decided from the times, without search (checkers/models.py, register_contradictions)
    assert "overwritten by the write of 2 (op 3)" in out


def test_porcupine_etcd_not_linearizable(capsys):
    assert main(["check", str(ETCD_040), "--format", "porcupine-etcd"]) == 1
    assert "NOT linearizable (etcd model, 83 ops" in capsys.readouterr().out


def test_json_output(capsys):
    assert main(["check", str(ROOT / "examples" / "register-bad.jsonl"), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is False and result["model"] == "cas-register"
    assert result["failures"][0]["stuck"] == [5]


def test_deadline_exits_2(tmp_path, capsys):
    history = tmp_path / "h.jsonl"
    history.write_text("".join(
        json.dumps({"type": t, "process": p, "f": "write", "key": "k", "value": p, "time": 1 if t == "invoke" else 9}) + "\n"
        for t in ("invoke", "ok") for p in range(4)
    ))
    assert main(["check", str(history), "--timeout", "1e-9"]) == 2
    assert "key 'k': unknown: deadline" in capsys.readouterr().out


def test_bad_input_exits_3_with_one_line(tmp_path, capsys):
    bad = tmp_path / "h.jsonl"
    bad.write_text('{"type": "ok", "process": 0, "f": "read"}\n')
    assert main(["check", str(bad)]) == 3
    err = capsys.readouterr().err
    assert err == f"raft-jepsen check: {bad}:1: ok read on process 0 without an invocation\n"
    assert main(["check", str(bad), "--timeout", "0"]) == 3
    with pytest.raises(SystemExit) as e:  # argparse rejects it, with our usage exit code
        main(["check", str(bad), "--model", "nope"])
    assert e.value.code == 3


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "--help"])
    assert e.value.code == 0
    assert "raft-jepsen check store/latest/history.jsonl" in capsys.readouterr().out
