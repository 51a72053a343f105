"""The live progress line: counts, the faults in force, and where it ends."""

import io

from raft_jepsen.harness.cli.progress import Progress
from raft_jepsen.harness.history import Op


def op(type_, f="read", process=0):
    return Op(index=0, type=type_, process=process, f=f)


def test_the_line_counts_completions_and_shows_the_faults_in_force():
    now = [100.0]
    progress = Progress(io.StringIO(), 60, clock=lambda: now[0])
    for o in (op("invoke"), op("ok"), op("invoke"), op("info"), op("invoke", "write"), op("fail", "write")):
        progress.observe(o)
    progress.observe(op("info", "start-partition", "nemesis"))
    progress.observe(op("info", "kill", "nemesis"))
    now[0] = 112.34
    assert progress.line() == "[  12.3/60 s]  ok 1  fail 1  info 1  faults: start-partition, kill"
    progress.observe(op("info", "stop-partition", "nemesis"))
    assert progress.line().endswith("faults: kill")
    progress.observe(op("info", "start", "nemesis"))
    assert progress.line().endswith("faults: none")


def test_a_partition_that_moves_is_still_one_fault_in_force():
    progress = Progress(io.StringIO(), 60, clock=lambda: 0.0)
    progress.observe(op("info", "start-partition", "nemesis"))
    progress.observe(op("info", "start-partition", "nemesis"))
    assert progress.line().endswith("faults: start-partition")
    progress.observe(op("info", "stop-partition", "nemesis"))
    assert progress.line().endswith("faults: none")


def test_messages_have_their_own_lines_and_the_first_after_the_workload_ends_the_live_line():
    out = io.StringIO()
    with Progress(out, 10) as progress:
        progress.message("starting")
        progress.observe(op("ok"))
        progress.message("healing")
        progress.observe(op("ok"))  # final reads: counted, but the live line is over
        progress.message("checking")
    lines = out.getvalue().splitlines()
    assert lines[0] == "starting"
    assert lines[1].startswith("[") and "ok 1 " in lines[1]
    assert lines[2:] == ["healing", "checking"]
