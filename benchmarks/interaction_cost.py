"""Cost of the interaction potential K ⋆ μ against the bare FFT pair it is built on."""
from __future__ import annotations

import numpy as np
from scipy import fft

from cases import gaussian_start, make_solver
from timing import median_seconds


class CountingInteraction:
    """Wraps an interaction and counts its ``potential`` calls."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        self.calls += 1
        self.inner.potential(mu, out)


def evaluations_per_step(cells: tuple[int, ...]) -> tuple[int, int]:
    """V = F + K ⋆ μ evaluations (counted, not assumed) made by one ``solver.step`` that
    follows a step, and by one ``stable_dt`` + ``step`` pair as ``Solver.advance`` makes."""
    solver = make_solver(cells, interaction=True)
    dt = solver.stable_dt()
    solver.step(dt)
    counter = CountingInteraction(solver.problem.interaction)
    solver.problem.interaction = counter
    solver.step(dt)
    step_alone = counter.calls
    solver.stable_dt()
    solver.step(dt)
    return step_alone, counter.calls - step_alone


def interaction_overhead(cells: tuple[int, ...], workers: int, repeats: int) -> dict[str, float]:
    """Seconds of one potential() call, of the bare rfftn + irfftn pair on the same padded
    grid, and of one full step; ratios potential/pair and step/(evaluations × pair)."""
    solver = make_solver(cells, interaction=True, workers=workers)
    interaction = solver.problem.interaction
    padded = interaction.padded_shape
    mu = gaussian_start(solver.problem.grid)
    out = np.empty_like(mu)
    buffer = np.random.default_rng(0).random(padded)

    def pair():
        spectrum = fft.rfftn(buffer, workers=workers)
        fft.irfftn(spectrum, s=padded, workers=workers, overwrite_x=True)

    potential = median_seconds(lambda: interaction.potential(mu, out), repeats)
    bare = median_seconds(pair, repeats)
    dt = solver.stable_dt()
    step = median_seconds(lambda: solver.step(dt), repeats)
    evaluations, _ = evaluations_per_step(cells)
    return {
        "padded": padded, "potential_s": potential, "fft_pair_s": bare, "step_s": step,
        "evaluations": evaluations, "potential_ratio": potential / bare,
        "step_ratio": step / (evaluations * bare),
    }
