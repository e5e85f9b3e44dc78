"""Observers of a running integration: an action and the cadence at which it is due.

Both drivers call :func:`notify` after every step: the grid run (progress, step-size check,
signal stop, checkpoints) and each particle replicate (stop request, the end of a checkpoint
segment).  A cadence counts steps (from t = 0) and wall time (since the observer last ran);
0 switches either off.  Snapshots at output times are not
observers: the solver steps exactly onto those times, as py-pde's controller steps onto its
trackers' times.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Cadence:
    """Due every ``steps`` steps (counted from t = 0) or after ``seconds`` of wall time since
    :meth:`restart`; ``every_step`` makes it due always.  0 disables either count."""

    steps: int = 0
    seconds: float = 0.0
    every_step: bool = False
    _since: float = field(default_factory=time.perf_counter, repr=False)

    def due(self, steps: int) -> bool:
        return (self.every_step or (self.steps > 0 and steps % self.steps == 0)
                or (self.seconds > 0 and time.perf_counter() - self._since >= self.seconds))

    def restart(self) -> None:
        """Start the wall-time count again (the observer has just run)."""
        self._since = time.perf_counter()


@dataclass
class Observer:
    """``action(state, dt)``, run after a step when ``cadence`` is due (default: every step)."""

    action: Callable[[Any, float], None]
    cadence: Cadence = field(default_factory=lambda: Cadence(every_step=True))


def notify(observers: Sequence[Observer], state: Any, steps: int, dt: float) -> None:
    """Run every due observer, in order, on ``state`` after step number ``steps``."""
    for observer in observers:
        if observer.cadence.due(steps):
            observer.action(state, dt)
