"""`raft-jepsen run --test-count K --until-invalid`: runs seed, seed+1, ... and stops at the first
invalid run, saying after how many runs it came (the way a hard-to-hit bug's figure is measured)."""

from __future__ import annotations

import pytest
import yaml

from raft_jepsen.harness import fakes, runner
from tests.unit.test_runner_fake import make_spec

pytestmark = pytest.mark.slow  # whole runs in real time, about a second each


def _run(tmp_path, monkeypatch, stale_seeds, *flags):
    from raft_jepsen.harness import cli
    from raft_jepsen.harness.cli import run as run_command

    seeds = []

    def fake_run(spec, **kwargs):
        seeds.append(spec.seed)
        db = fakes.AtomDB("stale-read" if spec.seed in stale_seeds else None)
        return runner.run(spec, backend=fakes.backend(db), **kwargs)

    monkeypatch.setattr(run_command, "run", fake_run)
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump(make_spec(tmp_path).to_config()))
    code = cli.main(["run", "--config", str(config), "--nemesis", "none", *flags])
    return code, seeds


def test_until_invalid_stops_at_the_first_invalid_run_and_says_when(tmp_path, monkeypatch, capsys):
    code, seeds = _run(tmp_path, monkeypatch, {13, 14}, "--test-count", "5", "--until-invalid")
    out = capsys.readouterr().out
    assert (code, seeds) == (1, [11, 12, 13])
    assert "first invalid run after 3 of at most 5 runs (seed 13)" in out


def test_until_invalid_without_an_invalid_run_says_so_and_is_valid(tmp_path, monkeypatch, capsys):
    code, seeds = _run(tmp_path, monkeypatch, set(), "--test-count", "2", "--until-invalid")
    assert (code, seeds) == (0, [11, 12])
    assert "no invalid run in 2 runs (seeds 11 to 12)" in capsys.readouterr().out


def test_without_until_invalid_every_run_runs(tmp_path, monkeypatch, capsys):
    code, seeds = _run(tmp_path, monkeypatch, {12}, "--test-count", "3")
    assert (code, seeds) == (1, [11, 12, 13])
    assert "first invalid run" not in capsys.readouterr().out


def test_a_signal_ends_the_series_not_only_the_run_it_lands_in(tmp_path, monkeypatch, capsys):
    import os
    import signal
    import threading

    from raft_jepsen.harness import cli
    from raft_jepsen.harness.cli import run as run_command

    seeds = []

    def fake_run(spec, **kwargs):
        seeds.append(spec.seed)
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()  # mid-run, as `kill` would
        return runner.run(spec, backend=fakes.backend(fakes.AtomDB(None)), **kwargs)

    monkeypatch.setattr(run_command, "run", fake_run)
    config = tmp_path / "t.yaml"
    config.write_text(yaml.safe_dump(make_spec(tmp_path).to_config()))
    code = cli.main(["run", "--config", str(config), "--nemesis", "none", "--test-count", "4"])
    assert seeds == [11] and code == 2  # one run, ended early: unknown
    assert "the other 3 runs were not started" in capsys.readouterr().err
