"""The runner end to end against the in-memory atom-db (harness.fakes): no Docker, short runs."""

import json
import os
import signal
from pathlib import Path

import pytest
import yaml

from raft_jepsen.checkers import verdict
from raft_jepsen.checkers.stats import Stats
from raft_jepsen.harness import fakes, runner
from raft_jepsen.harness import spec as specs
from raft_jepsen.harness.history import Op, pair, read_jsonl

pytestmark = pytest.mark.slow  # whole runs in real time, about a second each


def make_spec(tmp_path, **options):
    config = {"nodes": 3, "concurrency": 5, "time-limit": 1, "rate": 300, "nemesis": "partition", "nemesis-interval": 0.25,
              "recovery-time": 0.1, "seed": 11, "store": str(tmp_path / "store"), **options}
    return specs.build(config)


def run_fake(spec, db, **kwargs):
    return runner.run(spec, backend=fakes.backend(db), **kwargs)


def history_of(result):
    return list(read_jsonl(result.run_dir / "history.jsonl"))


def test_a_correct_atom_db_is_valid_and_the_run_folder_is_complete(tmp_path):
    db = fakes.AtomDB()
    spec = make_spec(tmp_path)
    result = run_fake(spec, db)
    assert (result.valid, result.exit_code, result.reason) == (True, 0, None)
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["schema"] == 1 and results["valid"] is True and results["seed"] == 11
    assert set(results["checkers"]) == {"linearizable", "availability", "stats", "coverage", "liveness"}
    assert results["checkers"]["coverage"]["faults"]["partition"]["installed"] >= 1
    assert results["safety"] is True and results["liveness"] is True
    assert results["nodes"] == ["n1", "n2", "n3"]
    assert results["op_counts"]["ok"] > 50
    assert specs.load(result.run_dir / "test.yaml") == spec  # replayable
    assert (tmp_path / "store" / "latest").resolve() == result.run_dir.resolve()
    assert sorted(p.name for p in (result.run_dir / "nodes").iterdir()) == ["n1", "n2", "n3"]
    assert (result.run_dir / "nodes" / "n1" / "node.log").is_file()
    assert not (result.run_dir / "report.html").exists()  # the CLI writes it, not the runner
    assert sorted(db.set_up) == sorted(db.torn_down) == ["n1", "n2", "n3"]


def test_faults_are_scheduled_healed_and_followed_by_final_reads_on_every_node(tmp_path):
    db = fakes.AtomDB()
    result = run_fake(make_spec(tmp_path), db)
    history = history_of(result)
    faults = [op.f for op in history if op.process == "nemesis"]
    assert faults[:2] == ["start-partition", "stop-partition"] and faults[-1] == "stop-partition"
    assert not db.partitioned
    final_nodes = {op.node for op in history if op.type == "invoke" and op.node}
    assert final_nodes == {"n1", "n2", "n3"}


@pytest.mark.parametrize("flaw", ["stale-read", "lost-write"])
def test_an_injected_flaw_is_found(tmp_path, flaw):
    result = run_fake(make_spec(tmp_path), fakes.AtomDB(flaw))
    assert (result.valid, result.exit_code) == (False, 1)
    failure = result.results["checkers"]["linearizable"]["failures"][0]
    # the line leads with the minimal explanation, then names the checker, key and operations
    assert result.anomaly.startswith(failure["explanation"] + f" (linearizable, key {failure['key']!r}, ops ")


def test_a_client_exception_becomes_info_and_the_verdict_stands(tmp_path):
    result = run_fake(make_spec(tmp_path), fakes.AtomDB("crash"))
    infos = [op for op in history_of(result) if op.type == "info" and op.is_client]
    assert infos and all("injected client crash" in op.error for op in infos)
    assert result.valid is True


def test_a_signal_stops_the_run_which_still_heals_checks_and_tears_down(tmp_path):
    db = fakes.AtomDB()
    seen = []

    def observer(op):
        seen.append(op)
        if len(seen) == 40:
            os.kill(os.getpid(), signal.SIGTERM)

    result = run_fake(make_spec(tmp_path, **{"time-limit": 30}), db, observer=observer)
    assert result.valid == "unknown" and result.reason.startswith("interrupted after")
    history = history_of(result)
    pair(history)  # the partial history is well formed: outstanding ops were closed as info
    assert result.results["checkers"]["linearizable"]["valid"] is True  # and it was checked
    assert "liveness" not in result.results["checkers"]  # no final heal, no deadline to hold it to
    assert result.results["duration_s"] < 30
    assert not db.partitioned and sorted(db.torn_down) == ["n1", "n2", "n3"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back


def test_an_unhealthy_cluster_gives_unknown_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "HEALTH_DEADLINE_S", 0)
    db = fakes.AtomDB()
    db.partitioned = True  # n2 and n3 refuse every op
    result = run_fake(make_spec(tmp_path, nemesis="none"), db)
    assert result.valid == "unknown"
    assert "cluster not healthy" in result.reason and "n2: read fail (not-leader)" in result.reason
    assert history_of(result) == []
    assert sorted(db.torn_down) == ["n1", "n2", "n3"]


def test_the_saved_spec_is_a_single_run_with_its_own_seed(tmp_path):
    result = run_fake(make_spec(tmp_path, **{"test-count": 3, "nemesis": "none"}), fakes.AtomDB())
    saved = yaml.safe_load((result.run_dir / "test.yaml").read_text())
    assert (saved["test-count"], saved["seed"]) == (1, 11)


class Fine:
    def check(self, history):
        return {"valid": True}


def invoke(i, process, f, **kw):
    return Op(index=i, type="invoke", process=process, f=f, **kw)


def test_a_crashing_checker_makes_the_verdict_unknown_not_a_crash():
    history = [invoke(0, 0, "write", value=1), Op(index=1, type="ok", process=0, f="write", value=1),
               invoke(2, 0, "read"), Op(index=3, type="ok", process=0, f="read", value=1)]

    class Broken:
        def check(self, history):
            raise ValueError("bad")

    valid, reason, results = verdict.judge(history, {"broken": Broken(), "fine": Fine()})
    assert (valid, reason) == ("unknown", "broken: ValueError: bad")
    assert results["fine"]["valid"] is True


def test_a_history_with_no_successful_write_is_unknown_even_if_checkers_pass():
    history = [invoke(0, 0, "read"), Op(index=1, type="ok", process=0, f="read", value=None)]
    valid, reason, _ = verdict.judge(history, {"fine": Fine()})
    assert valid == "unknown" and reason == "no write succeeded: nothing was tested"


def test_a_malformed_history_is_unknown():
    history = [invoke(0, 0, "read"), invoke(1, 0, "read")]
    valid, reason, _ = verdict.judge(history, {"fine": Fine()})
    assert valid == "unknown" and "not well formed" in reason


def test_stats_count_by_type_and_f_and_are_invalid_when_nothing_succeeded():
    history = [invoke(0, 0, "write", value=1), Op(index=1, type="ok", process=0, f="write", value=1),
               invoke(2, 1, "read"), Op(index=3, type="info", process=1, f="read", error="timeout")]
    result = Stats().check(history)
    assert (result["valid"], result["ok"], result["info"]) == (True, 1, 1)
    assert result["by_f"]["read"] == {"count": 1, "ok": 0, "fail": 0, "info": 1}
    assert Stats().check(history[2:])["valid"] is False


def test_run_command_repeats_with_successive_seeds_and_exits_with_the_worst(tmp_path, monkeypatch, capsys):
    from raft_jepsen.harness import cli
    from raft_jepsen.harness.cli import run as run_command

    seeds = []

    def fake_run(spec, **kwargs):  # seed 12 meets a stale-reading database, the others a correct one
        seeds.append(spec.seed)
        return runner.run(spec, backend=fakes.backend(fakes.AtomDB("stale-read" if spec.seed == 12 else None)), **kwargs)

    monkeypatch.setattr(run_command, "run", fake_run)
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump(make_spec(tmp_path).to_config()))
    junit = tmp_path / "junit.xml"
    code = cli.main(["run", "--config", str(config), "--test-count", "3", "--nemesis", "none", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert (code, seeds) == (1, [11, 12, 13])
    assert out.count("valid: no anomaly") == 2 and out.count("(linearizable, key ") == 1
    assert out.count("run folder: ") == 3
    assert junit.read_text().count("<testcase") == 3
    folders = [Path(line.split(": ", 1)[1]) for line in out.splitlines() if line.startswith("run folder: ")]
    assert all((folder / "report.html").is_file() for folder in folders)
    assert not any((folder / "junit.xml").exists() for folder in folders)  # JUnit once, where asked
