"""One line on stderr when Numba starts compiling kernels: on a first run (an empty cache) a
run sits in compilation for tens of seconds before its first step, which looks like a hang.

Numba's event API reports each compilation (``numba:compile``); loading a kernel from the
``cache=True`` disk cache reports none, so warm runs print nothing.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from numba.core import event
from tqdm import tqdm

MESSAGE = "compiling kernels (first run only; later runs load them from Numba's cache)…"


class _FirstCompilation(event.Listener):
    """Prints MESSAGE when the first compilation starts."""

    def __init__(self) -> None:
        self.seen = False

    def on_start(self, evt: event.Event) -> None:
        if not self.seen:
            self.seen = True
            tqdm.write(MESSAGE, file=sys.stderr)

    def on_end(self, evt: event.Event) -> None:
        pass


@contextmanager
def compile_notice(enabled: bool) -> Iterator[None]:
    """While the block runs, say so on stderr if Numba compiles (only when ``enabled``)."""
    if not enabled:
        yield
        return
    listener = _FirstCompilation()
    event.register("numba:compile", listener)
    try:
        yield
    finally:
        event.unregister("numba:compile", listener)
