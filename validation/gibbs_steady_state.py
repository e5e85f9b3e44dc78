"""Validation figure 7: with entropy τ > 0 the long-time solution is the Gibbs state.

With U = V + τ(log μ + 1) both the transport and the balanced birth–death term vanish
exactly when U is constant, i.e. at the self-consistent Gibbs state

    μ* = exp(−V[μ*]/τ) / ∫ exp(−V[μ*]/τ),   V[μ] = F + K ⋆ μ.

Three cases, run with balanced birth–death (α = 2, τ = 0.5) to t_end from a broad Gaussian:

* 1-D tilted multi-well F = 1 − cos(πx) + 0.5x on [−3, 3], K = 0: μ* = ``gibbs_density``;
* the same F with a repulsive Gaussian kernel (width 0.5, strength 1);
* the 2-D landscape of ``cases/birth_death_2d.toml`` with the same kernel.

With K ≠ 0 the reference is the fixed point on the same grid, found by the damped iteration
μ ← ½μ + ½ G(F + K ⋆ μ), G(W) = e^{−W/τ}/∫e^{−W/τ}, with K ⋆ μ the grid's own FFT convolution
(``ConvolutionInteraction``), until the L¹ change is below 1e-13.  The repulsive kernel
makes E + τ∫μ log μ strictly convex, so the fixed point is unique.  The L¹ distance between
the solver's long-time density and the reference is measured against h, and its order fitted.

    python validation/gibbs_steady_state.py [--quick] [--outdir validation]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pdesolve import (ConvolutionInteraction, GaussianKernel, Grid, MultiWell, Problem, Scheme, Solver,
                      gaussian_density, gibbs_density)

TAU = 0.5
ALPHA = 2.0
TOLERANCE = 1e-13


@dataclass(frozen=True)
class Study:
    """One refinement study: dimension, interaction or not, cell counts, run length."""

    label: str
    ndim: int
    interacting: bool
    cells: tuple[int, ...]
    t_end: float


@dataclass
class Outcome:
    """Result of one resolution: grid, solution, reference, distances and counts."""

    grid: Grid
    mu: np.ndarray
    reference: np.ndarray
    error: float
    residual: float
    iterations: int
    steps: int


def self_consistent_gibbs(grid: Grid, potential: np.ndarray,
                          interaction: ConvolutionInteraction | None) -> tuple[np.ndarray, int]:
    """The fixed point μ = G(F + K ⋆ μ) by damped iteration, and the number of iterations."""
    mu = gibbs_density(grid, potential, TAU)
    if interaction is None:
        return mu, 0
    convolution = np.empty(grid.shape)
    for iteration in range(1, 10_001):
        interaction.potential(mu, convolution)
        update = gibbs_density(grid, potential + convolution, TAU)
        change = grid.integrate(np.abs(update - mu))
        mu = 0.5 * mu + 0.5 * update
        if change < TOLERANCE:
            return mu, iteration
    raise RuntimeError(f"fixed-point iteration did not converge (last change {change:.2e})")


def solve(study: Study, cells: int) -> Outcome:
    """Long-time solution and reference at one resolution; the residual is the L¹ change of μ
    over the last unit of time."""
    d = study.ndim
    grid = Grid((-3.0,) * d, (3.0,) * d, (cells,) * d, (False,) * d)
    potential = MultiWell(period=(2.0,) * d, depth=1.0, tilt=(0.5, 0.25)[:d]).on_grid(grid)
    interaction = (ConvolutionInteraction(grid, GaussianKernel(width=0.5, strength=1.0))
                   if study.interacting else None)
    reference, iterations = self_consistent_gibbs(grid, potential, interaction)
    problem = Problem(grid, potential, interaction, "balanced", ALPHA, TAU)
    solver = Solver(problem, Scheme(), gaussian_density(grid, (0.7,) * d, 1.5))
    solver.advance(study.t_end - 1.0)
    previous = solver.mu.copy()
    solver.advance(study.t_end)
    mu = solver.mu.copy()
    return Outcome(grid, mu, reference, grid.integrate(np.abs(mu - reference)),
                   grid.integrate(np.abs(mu - previous)), iterations, solver.steps)


def studies(quick: bool) -> list[Study]:
    one_d = (50, 100) if quick else (50, 100, 200, 400)
    two_d = (16, 24) if quick else (24, 32, 48, 64)
    t_1d, t_2d = (8.0, 6.0) if quick else (15.0, 10.0)
    return [Study("1-D, K = 0 (Gibbs ∝ e^(−F/τ))", 1, False, one_d, t_1d),
            Study("1-D, Gaussian kernel (self-consistent)", 1, True, one_d, t_1d),
            Study("2-D birth_death_2d landscape, Gaussian kernel (self-consistent)", 2, True, two_d, t_2d)]


def fitted_order(spacings, errors) -> float:
    """Least-squares slope of log(error) against log(h)."""
    return float(np.polyfit(np.log(spacings), np.log(errors), 1)[0])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two coarse grids per study, short runs")
    parser.add_argument("--outdir", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)

    figure = Figure(figsize=(17, 5), layout="constrained")
    profile_ax, error_ax, image_ax = figure.subplots(1, 3)
    lines = ["Generated by `python validation/gibbs_steady_state.py`" + (" --quick" if args.quick else "")
             + "; do not edit.", "",
             f"τ = {TAU:g}, balanced birth–death α = {ALPHA:g}, second-order scheme (MC limiter).  "
             "Residual = L¹ change of μ over the last unit of time (stationarity); "
             "iterations = damped fixed-point iterations of the reference.", "",
             "| case | cells per axis | t_end | steps | iterations | residual | L¹(μ(t_end) − μ*) |",
             "|---|---|---|---|---|---|---|"]
    summary = ["", "| case | L¹ errors, coarsest → finest | fitted order |", "|---|---|---|"]
    readings = []
    for study, colour in zip(studies(args.quick), ("C0", "C1", "C2")):
        outcomes = [solve(study, cells) for cells in study.cells]
        spacings = [6.0 / cells for cells in study.cells]
        errors = [o.error for o in outcomes]
        order = fitted_order(spacings, errors)
        for cells, o in zip(study.cells, outcomes):
            lines.append(f"| {study.label} | {cells} | {study.t_end:g} | {o.steps} | {o.iterations} | "
                         f"{o.residual:.2e} | {o.error:.3e} |")
        summary.append(f"| {study.label} | {', '.join(f'{e:.2e}' for e in errors)} | {order:.2f} |")
        stationary = all(o.residual < 0.1 * o.error for o in outcomes)
        readings.append(
            f"* {study.label}: L¹ distance {errors[-1]:.2e} at {study.cells[-1]} cells per axis, falling with "
            f"order {order:.2f} in h; " + ("every run is stationary to a tenth of its error (residual column), "
                                           "so the distance is the scheme's discretisation of the steady state."
                                           if stationary else
                                           "some runs are not yet stationary to a tenth of their error "
                                           "(residual column): part of the distance is the unfinished transient."))
        error_ax.loglog(spacings, errors, "o-", color=colour, label=f"{study.label} ({order:.2f})")
        finest = outcomes[-1]
        if study.ndim == 1:
            x = finest.grid.axes[0]
            profile_ax.semilogy(x, finest.mu, color=colour, label=f"{study.label}: μ(t_end)")
            profile_ax.semilogy(x[::4], finest.reference[::4], "o", color=colour, ms=3, mfc="none",
                                label="reference μ*")
        else:
            x, y = finest.grid.axes
            extent = (x[0], x[-1], y[0], y[-1])
            image = image_ax.imshow(np.log10(finest.mu.T), origin="lower", extent=extent, cmap="viridis")
            image_ax.contour(x, y, np.log10(finest.reference.T), levels=8, colors="w", linewidths=0.7)
            figure.colorbar(image, ax=image_ax, label="log10 μ(t_end)")
            image_ax.set(xlabel="x", ylabel="y",
                         title=f"2-D, {study.cells[-1]}²: log10 μ(t_end), white: contours of log10 μ*")
    profile_ax.set(xlabel="x", ylabel="μ", title=f"1-D at {studies(args.quick)[0].cells[-1]} cells")
    profile_ax.legend(fontsize=7)
    error_ax.set(xlabel="h", ylabel="L¹ distance to μ*", title="Long-time L¹ error vs h (fitted order)")
    error_ax.legend(fontsize=7)
    lines += summary + ["", "Reading: the long-time solution is the Gibbs state, self-consistent with the "
                        "interaction, up to a discretisation error of the scheme:", ""] + readings

    FigureCanvasAgg(figure).print_png(args.outdir / "gibbs_steady_state.png")
    (args.outdir / "gibbs_steady_state.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
