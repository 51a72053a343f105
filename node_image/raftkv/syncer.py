"""Runs fsyncs off the event loop, so a slow disk does not stall the node's networking.

One daemon thread takes jobs from a queue and hands each result back to the loop with
`call_soon_threadsafe`. It never waits with a timeout: libfaketime 0.9.10 breaks timed thread
waits (they return early or hang under a faked clock), untimed ones are fine.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable


class Syncer:
    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name="raftkv-fsync", daemon=True).start()

    def submit(self, job: Callable[[], None], done: Callable[[BaseException | None], None]) -> None:
        """Run `job` on the sync thread, then `done(error or None)` on the loop."""
        self._jobs.put((job, done))

    def _run(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                job()
                error = None
            except OSError as e:
                error = e
            self._loop.call_soon_threadsafe(done, error)
