"""report.html from synthetic run folders: self-contained, complete, within its size budget, and
a one-line error for anything that is not a run."""

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from raft_jepsen.harness.cli import main as cli
from raft_jepsen.harness.errors import HistoryError, UsageError
from raft_jepsen.reports.html import SIZE_BUDGET, write_report
from tests.unit.run_fixtures import make_not_a_run, make_run


@pytest.fixture(scope="module")
def invalid_report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("store"), n_ops=3000, valid=False, seed=4)
    return run, write_report(run).read_text()


@pytest.fixture(scope="module")
def valid_report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("store"), n_ops=1000, valid=True, seed=2)
    return run, write_report(run).read_text()


class _Refs(HTMLParser):
    """Every URL the page would fetch or link to, and every <svg> block's position."""

    def __init__(self):
        super().__init__()
        self.fetched, self.links, self.ids = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe") and a.get("src"):
            self.fetched.append(a["src"])
        if tag == "link":
            self.fetched.append(a.get("href"))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if a.get("id"):
            self.ids.append(a["id"])


def _refs(html):
    p = _Refs()
    p.feed(html)
    return p


def test_report_is_self_contained(invalid_report):
    _, html = invalid_report
    refs = _refs(html)
    assert refs.fetched == []  # no external scripts, styles, fonts or images
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", html)
    assert all(not re.match(r"[a-z]+:", href) for href in refs.links), "links are relative to the run folder"


def test_header_names_the_run(invalid_report):
    run, html = invalid_report
    results = json.loads((run / "results.json").read_text())
    assert 'class="verdict">INVALID<' in html
    assert f"raft-jepsen run --config {run}/test.yaml" in html
    assert f"<dd>{results['seed']}</dd>" in html
    assert f"{results['op_counts']['ok']:,} ok" in html


def test_invalid_report_marks_the_first_error(invalid_report):
    run, html = invalid_report
    failure = json.loads((run / "results.json").read_text())["checkers"]["linearizable"]["failures"][0]
    refs = _refs(html)
    assert refs.ids.count("first-error") == 1
    assert "#first-error" in refs.links
    first = re.search(r'<g class="op (\w+) stuck[^"]*" data-i="(\d+)" id="first-error">', html)
    assert first and int(first.group(2)) == failure["stuck"][0]
    data = json.loads(re.search(r'<script id="report-data" type="application/json">(.*?)</script>', html).group(1))
    details = data["details"]["first-error"][first.group(2)]
    assert details["linearization"] == "could not be linearized next"
    assert {"process", "value", "output", "latency", "node"} <= set(details)


def test_valid_report_has_no_linearizability_view(valid_report):
    _, html = valid_report
    assert 'class="verdict">VALID<' in html
    assert "first-error" not in html
    assert 'id="linearizability"' not in html


def test_every_svg_is_well_formed(invalid_report):
    _, html = invalid_report
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) >= 4  # latency, throughput, leaders, the key's lanes and labels
    for svg in svgs:
        ET.fromstring(svg)


def test_faults_leaders_and_node_logs_are_on_the_page(valid_report):
    run, html = valid_report
    nemesis = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if '"nemesis"' in line]
    starts = [op for op in nemesis if op["f"] in ("start-partition", "kill")]
    assert html.count('<rect class="fault ') >= len(starts)
    assert 'class="leader-mark"' in html
    for n in ("n1", "n2", "n3", "n4", "n5"):
        assert f'href="nodes/{n}/node.log"' in html


def test_a_100k_op_history_fits_the_size_budget(tmp_path):
    run = make_run(tmp_path, n_ops=100_000, valid=False, seed=5)
    path = write_report(run)
    html = path.read_text()
    assert path.stat().st_size < SIZE_BUDGET
    assert "binned into" in html  # the page says what it summarised
    assert "around the first operation that could not be linearized" in html
    assert html.count('id="first-error"') == 1


@pytest.mark.parametrize("kind", ["empty", "bad-json", "schema", "bad-field", "bad-history"])
def test_not_a_run_is_one_line(tmp_path, kind):
    folder = make_not_a_run(tmp_path, kind)
    with pytest.raises((UsageError, HistoryError)) as e:
        write_report(folder)
    assert str(folder) in str(e.value) and "\n" not in str(e.value)


def test_report_command_exit_codes(tmp_path, capsys):
    run = make_run(tmp_path, n_ops=400, valid=True)
    (run / "report.html").unlink(missing_ok=True)
    assert cli(["report", str(run)]) == 0
    assert (run / "report.html").is_file()
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    assert cli(["report", str(tmp_path / "nowhere")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err


def test_a_run_that_died_at_once_still_gets_a_page(tmp_path):
    """No ops, no node logs, no checkers, an unknown verdict: the page says so instead of failing."""
    (tmp_path / "results.json").write_text(json.dumps(
        {"schema": 1, "valid": "unknown", "reason": "cluster never became healthy"}))
    (tmp_path / "history.jsonl").write_text("")
    html = write_report(tmp_path).read_text()
    assert 'class="verdict">UNKNOWN<' in html and "cluster never became healthy" in html
    assert "No checker results" in html and "No operation succeeded" in html and "collected no node logs" in html
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)


def test_the_page_leads_with_the_minimal_explanation(invalid_report):
    run, html = invalid_report
    failure = json.loads((run / "results.json").read_text())["checkers"]["linearizable"]["failures"][0]
    sentence = failure["explanation"].replace("'", "&#39;")
    header = html[html.index("<header"): html.index("</header>")]
    assert f'<p class="explanation lead">{sentence}</p>' in header  # first thing under the verdict
    section = html[html.index('<section id="linearizability"'):]
    # above the key's full view: the sentence, then a view of the minimal set's operations alone
    assert section.index(f'<p class="explanation">{sentence}</p>') < section.index('data-anchor="first-error-minimal"') \
        < section.index('data-anchor="first-error"')
    small = section[section.index('data-anchor="first-error-minimal"'): section.index("All operations on the key")]
    assert sorted(int(i) for i in re.findall(r'data-i="(\d+)"', small)) == sorted(failure["minimal"])
    full = section[section.index('data-anchor="first-error"'):]
    marked = re.findall(r'<g class="op [a-z]+ [a-z]+ minimal[^"]*" data-i="(\d+)"', full)
    assert sorted(int(i) for i in marked) == sorted(failure["minimal"])  # outlined in the full view too
