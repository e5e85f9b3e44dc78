"""Step time against cell count, and the fitted exponent p of  time ∝ cells^p."""
from __future__ import annotations

import numpy as np

from cases import cube, make_solver
from timing import median_seconds


def step_seconds(cells: tuple[int, ...], interaction: bool, repeats: int, workers: int) -> float:
    """Median seconds of one Strang + SSP-RK2 order-2 step."""
    solver = make_solver(cells, interaction=interaction, workers=workers)
    dt = solver.stable_dt()
    return median_seconds(lambda: solver.step(dt), repeats)


def fitted_exponent(sizes: list[int], seconds: list[float]) -> float:
    """Least-squares slope of log(time) against log(cells)."""
    slope, _ = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(slope)


def scaling_series(ndim: int, totals: list[int], interaction: bool, repeats: int,
                   workers: int) -> list[tuple[tuple[int, ...], int, float]]:
    """(cells per axis, cell count, median step seconds) for each requested total."""
    rows = []
    for total in totals:
        cells = cube(ndim, total)
        size = int(np.prod(cells))
        rows.append((cells, size, step_seconds(cells, interaction, repeats, workers)))
    return rows
