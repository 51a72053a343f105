"""Exit codes that cannot lie: a crash of ours is exit 2 (unknown), one line, the traceback saved;
never exit 1, which means "a bug was found"."""

import importlib
import json
from datetime import datetime, timezone

import pytest

from raft_jepsen.harness import cli, store

# a plausible argument list per subcommand, enough for argparse to reach its main
ARGS = {
    "run": ["run"],
    "check": ["check", "h.jsonl"],
    "report": ["report", "store/latest"],
    "serve": ["serve"],
    "suite": ["suite", "s.yaml"],
    "probe": ["probe", "127.0.0.1:1"],
    "image": ["image", "build"],
    "clean": ["clean"],
}


def test_every_subcommand_is_covered():
    assert set(ARGS) == set(cli.COMMANDS)


@pytest.fixture(autouse=True)
def _temp_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    monkeypatch.setattr(store, "_current", None)


@pytest.mark.parametrize("name", sorted(ARGS))
@pytest.mark.parametrize("error", [ValueError("boom\nsecond line"), TypeError("x"), RecursionError(), MemoryError(),
                                   KeyError("k")])
def test_a_crash_in_any_subcommand_is_exit_2_one_line_traceback_saved(name, error, tmp_path, monkeypatch, capsys):
    module = importlib.import_module(cli.COMMANDS[name])

    def crash(args):
        raise error

    monkeypatch.setattr(module, "main", crash)
    assert cli.main(ARGS[name]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "internal error" in err and type(error).__name__ in err
    saved = list(tmp_path.glob("raft-jepsen-crash-*.txt"))
    assert len(saved) == 1 and str(saved[0]) in err
    assert "Traceback" in saved[0].read_text()


def test_debug_prints_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(importlib.import_module(cli.COMMANDS["check"]), "main", lambda args: 1 / 0)
    assert cli.main(["check", "h.jsonl", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err
    assert cli.main(["--debug", "check", "h.jsonl"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_a_crash_during_a_run_is_recorded_in_its_folder_which_then_reads_unknown(tmp_path, monkeypatch, capsys):
    def crash(args):
        store.create_run_dir(tmp_path / "store", "t", datetime.now(timezone.utc))
        raise RuntimeError("the runner fell over")

    monkeypatch.setattr(importlib.import_module(cli.COMMANDS["run"]), "main", crash)
    assert cli.main(["run"]) == 2
    (run_dir,) = (tmp_path / "store" / "t").iterdir()
    assert f"{run_dir / 'crash.txt'}" in capsys.readouterr().err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown" and "the runner fell over" in results["reason"]
    assert store.current_run_dir() is None


def test_a_finished_run_is_not_blamed_for_a_later_crash(tmp_path, monkeypatch, capsys):
    def crash(args):
        run_dir = store.create_run_dir(tmp_path / "store", "t", datetime.now(timezone.utc))
        store.write_results(run_dir, {"schema": 1, "valid": True})
        raise RuntimeError("after the run")

    monkeypatch.setattr(importlib.import_module(cli.COMMANDS["run"]), "main", crash)
    assert cli.main(["run"]) == 2
    assert "raft-jepsen-crash-" in capsys.readouterr().err


def test_an_error_quoting_line_breaks_is_still_one_line(tmp_path, capsys):
    history = tmp_path / "h.jsonl"
    history.write_text('{"type": "invoke", "process": 0, "f": "read"}\n{"type": "invoke", "process": 0, "f": "\\u001e\\n"}\n')
    assert cli.main(["check", str(history)]) == 3
    assert capsys.readouterr().err.count("\n") == 1
    odd = tmp_path / "a\nb\u2028c.jsonl"
    assert cli.main(["check", str(odd)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a\\x0ab\\u2028c.jsonl" in err
