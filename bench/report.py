"""Seconds to render report.html for synthetic runs of 10,000 and 100,000 history lines
(target: under 5 s for 100,000), and the page's size against its 5 MB budget.

    python bench/report.py [--repeat 3] [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the synthetic runs live with the tests

from raft_jepsen.reports.html import SIZE_BUDGET, write_report  # noqa: E402
from tests.unit.run_fixtures import make_run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = p.parse_args()
    print(f"{'ops':>8} {'verdict':>8} {'render s (median)':>18} {'min s':>7} {'size':>10} {'of budget':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for valid in (True, False):
                run = make_run(Path(tmp) / f"{n}-{valid}", n_ops=n, valid=valid, seed=5)
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    path = write_report(run)
                    times.append(time.perf_counter() - t0)
                size = path.stat().st_size
                print(f"{n:>8,} {'valid' if valid else 'invalid':>8} {statistics.median(times):>18.2f} "
                      f"{min(times):>7.2f} {size / 1e6:>8.2f} MB {size / SIZE_BUDGET:>8.0%}")


if __name__ == "__main__":
    main()
