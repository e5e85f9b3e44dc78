"""Validation figure 1: convergence orders against the exact Gaussian solutions (DESIGN §3).

Regenerates ``convergence_orders.png`` and ``convergence_orders.md`` (the table of
measured errors and fitted orders) in the output directory, from scratch, through the
public API only.  ``--quick`` uses two coarse grids per study (a smoke test).

    python validation/convergence_orders.py [--quick] [--outdir validation]
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pdesolve import GaussianFlow, Grid, Scheme, Solver
from _common import fitted_order, script_arguments


@dataclass(frozen=True)
class Study:
    """One refinement study: an exact flow, a box [−L, L]^d, cell counts, a scheme."""

    label: str
    flow: GaussianFlow
    cells: tuple[int, ...]
    half_width: float
    t_end: float
    order: int = 2
    theta: float = 2.0

    @property
    def ndim(self) -> int:
        return len(self.flow.m0)


def grid_of(study: Study, cells: int) -> Grid:
    d = study.ndim
    return Grid((-study.half_width,) * d, (study.half_width,) * d, (cells,) * d, (False,) * d)


def solve(flow: GaussianFlow, grid: Grid, scheme: Scheme, t_end: float) -> np.ndarray:
    """The grid solution at t_end of ``flow``'s problem started from its exact μ₀."""
    solver = Solver(flow.problem(grid), scheme, flow.initial_density(grid))
    solver.advance(t_end)
    return solver.mu


def l1_error(study: Study, cells: int) -> float:
    grid = grid_of(study, cells)
    mu = solve(study.flow, grid, Scheme(order=study.order, theta=study.theta), study.t_end)
    return grid.integrate(np.abs(mu - study.flow.state(study.t_end).density(grid)))


def studies(quick: bool) -> list[Study]:
    transport1 = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5)
    balanced1 = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=1.0, reaction="balanced")
    balanced2 = GaussianFlow(a=1.0, m0=(0.5, -0.3), s0=0.5, alpha=1.0, reaction="balanced")
    interacting2 = GaussianFlow(a=1.0, m0=(0.5, -0.4), s0=0.5, alpha=1.0, b=0.5, reaction="balanced")
    balanced3 = GaussianFlow(a=1.0, m0=(0.3, -0.2, 0.1), s0=0.6, alpha=1.0, reaction="balanced")
    one_d = (50, 100) if quick else (50, 100, 200, 400, 800, 1600)
    two_d = (16, 24) if quick else (24, 48, 96, 192, 384)
    three_d = (12, 16) if quick else (16, 24, 32, 48, 64, 96)
    return [
        Study("1-D transport, 1st order", transport1, one_d, 3.0, 0.5, order=1),
        Study("1-D transport + balanced, 1st order", balanced1, one_d, 3.0, 0.5, order=1),
        Study("1-D transport + balanced, MC", balanced1, one_d, 3.0, 0.5),
        Study("1-D transport + balanced, minmod", balanced1, one_d, 3.0, 0.5, theta=1.0),
        Study("2-D transport + balanced, MC", balanced2, two_d, 3.0, 0.5),
        Study("2-D transport + balanced, extremum", balanced2, two_d, 3.0, 0.5, theta=0.0),
        Study("2-D quadratic kernel + balanced, MC", interacting2, two_d, 3.0, 0.4),
        Study("3-D transport + balanced, 1st order", balanced3, three_d, 3.0, 0.25, order=1),
        Study("3-D transport + balanced, MC", balanced3, three_d, 3.0, 0.25),
    ]


def time_study(quick: bool) -> tuple[np.ndarray, dict[str, list[float]]]:
    """L¹ distance to a Δt = T/6400 SSP-RK3 reference on a fixed 1-D grid of 200 cells:
    Strang and Lie splitting with a balanced reaction, and Strang with a quadratic
    interaction kernel as well (there the reaction's V̄ depends on μ and the half step
    freezes it at a midpoint predictor)."""
    plain = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=2.0, reaction="balanced")
    interacting = GaussianFlow(a=1.0, m0=(0.5,), s0=0.5, alpha=2.0, b=0.5, reaction="balanced")
    grid = Grid((-3.0,), (3.0,), (200,), (False,))
    t_end = 0.5
    steps = np.array([200, 400] if quick else [200, 400, 800, 1600])
    references = {flow: solve(flow, grid, Scheme(integrator="ssprk3", dt=t_end / 6400), t_end)
                  for flow in (plain, interacting)}
    errors = {}
    for label, flow, split in (("Strang, balanced", plain, "strang"), ("Lie, balanced", plain, "lie"),
                               ("Strang, quadratic kernel + balanced", interacting, "strang")):
        reference = references[flow]
        errors[label] = [grid.integrate(np.abs(solve(flow, grid, Scheme(splitting=split, dt=t_end / n),
                                                      t_end) - reference)) for n in steps]
    return t_end / steps, errors


def main(argv=None) -> None:
    args = script_arguments(__doc__, "two coarse grids per study", argv)

    figure = Figure(figsize=(12, 5), layout="constrained")
    space_ax, time_ax = figure.subplots(1, 2)
    rows = ["| study | cells per axis | L¹ errors | fitted order |", "|---|---|---|---|"]
    for study in studies(args.quick):
        spacings = 2 * study.half_width / np.array(study.cells)
        errors = [l1_error(study, n) for n in study.cells]
        order = fitted_order(spacings, errors)
        space_ax.loglog(spacings, errors, "o-", label=f"{study.label} ({order:.2f})")
        rows.append(f"| {study.label} | {', '.join(map(str, study.cells))} | "
                    f"{', '.join(f'{e:.2e}' for e in errors)} | {order:.2f} |")
    space_ax.set(xlabel="h", ylabel="L¹ error at t_end", title="Grid refinement (fitted order)")
    space_ax.legend(fontsize=7)

    dts, time_errors = time_study(args.quick)
    for label, errors in time_errors.items():
        order = fitted_order(dts, errors)
        time_ax.loglog(dts, errors, "s-", label=f"{label} ({order:.2f})")
        rows.append(f"| time step, {label} (200 cells) | Δt = {', '.join(f'{d:.2e}' for d in dts)} | "
                    f"{', '.join(f'{e:.2e}' for e in errors)} | {order:.2f} |")
    time_ax.set(xlabel="Δt", ylabel="L¹ distance to Δt → 0 reference", title="Time splitting order")
    time_ax.legend()

    FigureCanvasAgg(figure).print_png(args.outdir / "convergence_orders.png")
    (args.outdir / "convergence_orders.md").write_text(
        "Generated by `python validation/convergence_orders.py`"
        + (" --quick" if args.quick else "") + "; do not edit.\n\n" + "\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
