"""SIGINT/SIGTERM during a run: a flag the time loops read after each step, and the exception
that reports the stop once the checkpoint is written."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the run stopped after a whole step and checkpointed."""

    def __init__(self, signum: int, output: Path, t: float, steps: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name} at t = {t:g} after step {steps}")
        self.signum = signum
        self.output = output


@contextmanager
def stop_on_signals(flag: dict | None = None) -> Iterator[dict]:
    """Within the block, SIGINT/SIGTERM only raise a flag (``flag["signum"]``) that the
    time loop checks after each step; the previous handlers come back afterwards.  A
    caller that stops the run by other means (a sweep task told by its scheduler) passes
    its own ``flag``; outside the main thread no handler is installed."""
    flag = {"signum": None} if flag is None else flag

    def handler(signum, frame):
        flag["signum"] = signum
        flag["count"] = flag.get("count", 0) + 1   # a second Ctrl-C: the caller may stop at once

    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
