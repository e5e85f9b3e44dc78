"""How many Numba threads the kernels of a large grid run on: chosen by timing steps.

Every parallel kernel ends at a barrier that waits for its slowest thread.  When other
processes keep the cores busy (a shared node, two runs at once, ``compare`` workers), one
of the run's threads is descheduled for a whole time slice at almost every barrier: a
256² balanced step was measured at 59–73 ms on two threads against 0.44–1.4 ms on one.  Unloaded,
two threads are faster.  Neither the core count nor the load average says which case
holds now (the load average lags by a minute and counts this run's own threads), so the
step itself is timed: `ThreadChooser` runs a few steps on each candidate count, taking
turns so that all see the same load, keeps the one with the least mean step time (the
mean, not the median: under load most two-thread steps are fast and a few wait a whole
time slice, and it is the mean that sets the run's time), and probes again after `REPROBE_SECONDS`, or `REPROBE_STEPS_OF_WORK` steps' worth
of time, or `PROBE_COST_SHARE`⁻¹ times what the last probe cost beyond the chosen count,
whichever is longest: a load that comes or goes during a run is followed, and probing the
slow counts takes at most 1/20 of the time.

Changing the count mid-run changes no result: every kernel's output, sums included (see
:mod:`.reaction`), is the same for any number of threads.
"""
from __future__ import annotations

import statistics
import time

WARMUP_STEPS = 1           # the first step compiles or loads the kernels: not timed
PROBE_STEPS = 8            # steps timed on each candidate per probe, in turns (their mean counts)
CLEARLY_SLOWER = 2.0       # after two turns, a count this much slower than the best is dropped
REPROBE_SECONDS = 2.0
REPROBE_STEPS_OF_WORK = 30
PROBE_COST_SHARE = 0.05


class ThreadChooser:
    """The thread count for the next step, from the measured step times of ``counts``."""

    def __init__(self, counts: tuple[int, ...], clock=time.perf_counter):
        self.counts = tuple(dict.fromkeys(counts))   # distinct, the preferred one first
        self.chosen = self.counts[0]
        self._clock = clock
        self._warmup = WARMUP_STEPS
        self._plan: list[int] = []
        self._times: dict[int, list[float]] = {}
        self._next_probe = 0.0   # probe at the first step after the warm-up

    def count(self) -> int:
        """The thread count to run the next step on."""
        if self._warmup or len(self.counts) == 1:
            return self.chosen
        if not self._plan and self._clock() >= self._next_probe:
            self._plan = [c for _ in range(PROBE_STEPS) for c in self.counts]
            self._times = {c: [] for c in self.counts}
        return self._plan[0] if self._plan else self.chosen

    def record(self, count: int, seconds: float) -> None:
        """A step ran on ``count`` threads in ``seconds``."""
        if self._warmup:
            self._warmup -= 1
            return
        if not self._plan or self._plan[0] != count:
            return
        self._plan.pop(0)
        self._times[count].append(seconds)
        if all(len(t) >= 2 for t in self._times.values()):
            means = {c: statistics.fmean(t) for c, t in self._times.items()}
            best = min(means.values())
            self._plan = [c for c in self._plan if means[c] <= CLEARLY_SLOWER * best]
        if not self._plan:
            means = {c: statistics.fmean(t) for c, t in self._times.items()}
            self.chosen = min(self.counts, key=lambda c: (means[c], self.counts.index(c)))
            best = means[self.chosen]
            extra = sum(sum(t) - best * len(t) for t in self._times.values())
            self._next_probe = self._clock() + max(REPROBE_SECONDS, REPROBE_STEPS_OF_WORK * best,
                                                   extra / PROBE_COST_SHARE)
