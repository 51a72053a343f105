"""The report in a real browser (headless Chromium over the DevTools protocol): it renders with
no script or console errors, the first non-linearizable op is there and visible after "jump to
the first error", and a 100,000-op report renders too. Screenshots are kept in the test's tmp
folder for a person to look at."""

import pytest

from raft_jepsen.reports.html import write_report
from tests.unit.run_fixtures import make_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _open(browser, path):
    browser.events.clear()
    browser.load(path.as_uri())
    assert browser.evaluate("document.body.dataset.rendered") == "yes", "the report's script did not finish"
    assert browser.errors() == []
    assert browser.evaluate("document.getElementById('js-errors').hidden") is True


def test_invalid_report_jumps_to_a_visible_first_error(browser, tmp_path):
    report = write_report(make_run(tmp_path, n_ops=3000, valid=False, seed=4))
    _open(browser, report)
    browser.evaluate("document.querySelector('a.jump').click()")
    seen = browser.evaluate("""(() => {
        const el = document.getElementById('first-error');
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return {w: r.width, h: r.height, inView: r.top >= 0 && r.bottom <= innerHeight && r.left >= 0 && r.right <= innerWidth,
                onTop: el.contains(hit), stuck: el.classList.contains('stuck')};
    })()""")
    assert seen["w"] > 0 and seen["h"] > 0
    assert seen == {**seen, "inView": True, "onTop": True, "stuck": True}
    browser.screenshot(str(tmp_path / "invalid.png"))


def test_hovering_an_op_shows_its_details(browser, tmp_path):
    report = write_report(make_run(tmp_path, n_ops=1500, valid=False, seed=6))
    _open(browser, report)
    browser.evaluate("document.getElementById('first-error').scrollIntoView({block: 'center', inline: 'center'})")
    box = browser.evaluate("(() => { const r = document.getElementById('first-error').getBoundingClientRect();"
                           " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    browser.call("Input.dispatchMouseEvent", session=True, type="mouseMoved", x=box[0], y=box[1])
    text = browser.evaluate("document.getElementById('tooltip').hidden ? '' : document.getElementById('tooltip').textContent")
    assert "could not be linearized next" in text and "latency" in text


def test_valid_and_large_reports_render_without_errors(browser, tmp_path):
    _open(browser, write_report(make_run(tmp_path / "v", n_ops=1000, valid=True, seed=2)))
    assert browser.evaluate("document.querySelectorAll('#latency-graph .dots').length") >= 1
    large = write_report(make_run(tmp_path / "l", n_ops=100_000, valid=False, seed=5))
    _open(browser, large)
    assert browser.evaluate("!!document.getElementById('first-error')")
    browser.screenshot(str(tmp_path / "large.png"))


def test_the_minimal_explanation_is_on_screen_first(browser, tmp_path):
    report = write_report(make_run(tmp_path, n_ops=1500, valid=False, seed=4))
    _open(browser, report)
    seen = browser.evaluate("""(() => {
        const lead = document.querySelector('header .explanation');
        const r = lead.getBoundingClientRect();
        const small = document.querySelector('.minimal-box .lin-view');
        const ops = [...small.querySelectorAll('.op')].map(g => g.getBoundingClientRect());
        return {lead: lead.textContent.length, leadInView: r.top >= 0 && r.bottom <= innerHeight,
                ops: ops.length, drawn: ops.every(b => b.width > 0 && b.height > 0)};
    })()""")
    # the sentence is on the first screen; the view of the minimal set draws each of its ops
    assert seen["lead"] > 20 and seen["leadInView"] and seen["ops"] == 3 and seen["drawn"]
    browser.evaluate("document.querySelector('.minimal-box').scrollIntoView({block: 'center'})")
    browser.screenshot(str(tmp_path / "minimal.png"))
