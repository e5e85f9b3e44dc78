"""The thread count of large grids: chosen by timing steps, and free to change mid-run because
no result depends on it."""
import numba
import numpy as np
import pytest

from pdesolve.fv.backends.numba import threads as th
from pdesolve.fv.backends.numba.threads import ThreadChooser
from pdesolve.fv.solver import Solver
from pdesolve.model.grid import Grid
from pdesolve.model.problem import Problem, Scheme


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_steps(chooser, clock, step_seconds, steps):
    """Take ``steps`` steps whose duration on c threads is ``step_seconds[c]``; the counts used."""
    used = []
    for _ in range(steps):
        count = chooser.count()
        clock.now += step_seconds[count]
        chooser.record(count, step_seconds[count])
        used.append(count)
    return used


def test_the_chooser_probes_each_count_keeps_the_fastest_and_follows_a_change_of_load():
    clock = FakeClock()
    chooser = ThreadChooser((2, 1, 1), clock=clock)
    assert chooser.counts == (2, 1)
    unloaded = {2: 0.001, 1: 0.0018}
    used = run_steps(chooser, clock, unloaded, 1 + 2 * th.PROBE_STEPS)
    assert used == [2] + [2, 1] * th.PROBE_STEPS   # warm-up, then the probe, in turns
    assert chooser.chosen == 2
    # the other core gets busy: barriers now wait a time slice for the descheduled thread
    loaded = {2: 0.06, 1: 0.0035}
    used = run_steps(chooser, clock, loaded, 3000)
    assert chooser.chosen == 1
    # no more than 1.5× the single-thread time, the seconds before the first re-probe included
    assert sum(loaded[c] for c in used) < 1.5 * 3000 * loaded[1]
    settled = used[used.index(1) + 2 * th.PROBE_STEPS - 1:]   # after the first probe under load:
    assert settled[0] == 1                                    # probes cost at most 5% more
    assert sum(loaded[c] for c in settled) < (1 + th.PROBE_COST_SHARE) * len(settled) * loaded[1] * 1.01
    # and the load goes away again
    run_steps(chooser, clock, unloaded, 3000)
    assert chooser.chosen == 2


def test_the_reprobe_interval_grows_with_the_step_time():
    clock = FakeClock()
    chooser = ThreadChooser((2, 1), clock=clock)
    slow = {2: 1.0, 1: 1.5}
    run_steps(chooser, clock, slow, 1 + 2 * th.PROBE_STEPS)
    started = clock.now
    used = run_steps(chooser, clock, slow, th.REPROBE_STEPS_OF_WORK)
    assert used == [2] * th.REPROBE_STEPS_OF_WORK and clock.now - started >= th.REPROBE_STEPS_OF_WORK


def test_one_candidate_never_probes():
    chooser = ThreadChooser((1,))
    for _ in range(10):
        assert chooser.count() == 1
        chooser.record(1, 0.1)


def test_a_large_grid_gives_the_same_bits_whatever_the_thread_counts():
    """A 256² balanced birth–death run with transport (≥ PARALLEL_MIN_CELLS cells, so the
    kernels run in parallel), on one thread throughout and with the count switched at
    every step: bit-for-bit the same μ."""
    grid = Grid((-3.0, -3.0), (3.0, 3.0), (256, 256), (False, True))
    x, y = grid.mesh()
    mu0 = np.exp(-((x - 0.5) ** 2 + (y + 0.3) ** 2) / 0.5)
    mu0 /= grid.integrate(mu0)
    problem = Problem(grid, 0.5 * x ** 2 + np.cos(y), None, "balanced", 1.0, 0.0)

    def run(counts):
        solver = Solver(problem, Scheme(dt=2e-3), mu0)
        chooser = solver.backend.thread_chooser
        saved = chooser.count
        try:
            for k in range(12):
                chooser.count = lambda: counts[k % len(counts)]
                solver.step(2e-3)
        finally:
            chooser.count = saved
        return solver.mu.copy()

    most = numba.config.NUMBA_NUM_THREADS
    if most < 2:
        pytest.skip("one CPU: there is no second thread count to compare")
    assert np.array_equal(run([1]), run([most, 1, most // 2 or 1]))
