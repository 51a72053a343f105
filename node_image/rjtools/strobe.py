"""Strobe a libfaketime offset file: the clock flips between an offset and the true time.

    python3 -m rjtools.strobe --file /run/rj/faketime --offset -2.048 --period-ms 200 [--ready FILE]

Every `period` ms the file is replaced (atomically: a half-written file makes libfaketime exit)
by the offset, then by +0, and so on; SIGTERM writes +0 and exits. This program itself is never
run under libfaketime, so its own sleeps keep true time."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def write(path: str, offset: float) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(f"{offset:+.3f}\n")
    os.replace(path + ".tmp", path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m rjtools.strobe")
    p.add_argument("--file", required=True)
    p.add_argument("--offset", type=float, required=True)
    p.add_argument("--period-ms", type=float, required=True)
    p.add_argument("--ready")
    args = p.parse_args(argv)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    on = True
    write(args.file, args.offset)
    if args.ready:
        open(args.ready, "w").close()
    while not stopping:
        time.sleep(args.period_ms / 1000)
        on = not on
        write(args.file, args.offset if on else 0.0)
    write(args.file, 0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
