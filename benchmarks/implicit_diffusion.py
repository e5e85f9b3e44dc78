"""Time to the Gibbs state: the explicit scheme against the implicit diffusion step
(``scheme.diffusion = "implicit"``), at equal L¹ error, on a 1-D 800-cell and a 2-D 256² grid.

Protocol (fixed before any timing was looked at):

* the problems: pure Fokker–Planck relaxation ∂tμ = ∇·(μ∇F) + τΔμ (no interaction, α = 0),
  no-flux box; 1-D: F = x⁴/4 − x²/2 + x/10 on [−3, 3], τ = 0.5, μ₀ a Gaussian at 1.2 with
  std 0.1 (mass crosses the barrier into the deeper well); 2-D: F = |x|²/2 on [−3, 3]²,
  τ = 0.25, μ₀ a Gaussian at (1, −0.5) with std 0.3;
* the error: e(t) = Σ_i |μ_i(t) − g(x_i)| |cell| against the continuous Gibbs density
  g = exp(−F/τ) / ∫exp(−F/τ) (the integral by adaptive quadrature, so neither scheme's
  discrete steady state is the reference);
* the target: ε = 10⁻³ (0.1% of the mass misplaced); the implicit scheme's floor (e at its
  steady state, which does not depend on Δt: reached by Δt = 1 steps to ``--floor-t``) is
  reported beside it, and e where each run stopped;
* the runs: explicit at CFL 0.5 (the default) and 1.0 (its largest allowed); implicit at the
  default (Δt from the transport CFL 0.5 alone) and at a fixed Δt = 0.05 and 0.5.  Each runs
  step by step through ``Solver.stable_dt`` / ``Solver.step``; only those calls are timed, e
  is checked after every step untimed.  Reported: the time and steps to e ≤ ε, the ratio of
  the best explicit to the best implicit time, min μ over the run and the mass drift.

Run: ``python benchmarks/implicit_diffusion.py [--quick] [--out FILE]``; writes
``benchmarks/IMPLICIT.md`` by default (about 6 minutes on two cores, most of it the implicit
2-D run at the transport CFL); ``--quick`` coarsens every grid 8× per axis (seconds; the suite
runs it).
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.integrate import quad

from pdesolve.fv.solver import Solver
from pdesolve.model.grid import Grid
from pdesolve.model.problem import Problem, Scheme

HERE = Path(__file__).resolve().parent
TARGET = 1e-3


@dataclass(frozen=True)
class Relaxation:
    name: str
    grid: Grid
    tau: float
    potential_1d: object      # F per axis (F is a sum over axes)
    start: tuple[float, ...]
    std: float
    t_max: float              # give up beyond this time

    def potential(self) -> np.ndarray:
        return sum(self.potential_1d(x) for x in self.grid.mesh())

    def gibbs(self) -> np.ndarray:
        """g(x_i) with the exact normalisation (a product of 1-D integrals)."""
        lower, upper = self.grid.lower[0], self.grid.upper[0]
        norm_1d = quad(lambda x: np.exp(-self.potential_1d(x) / self.tau), lower, upper, limit=200)[0]
        return np.exp(-self.potential() / self.tau) / norm_1d ** self.grid.ndim

    def initial(self) -> np.ndarray:
        mu0 = np.exp(-sum((x - m) ** 2 for x, m in zip(self.grid.mesh(), self.start)) / (2 * self.std ** 2))
        return mu0 / self.grid.integrate(mu0)


def coarsened(problem: Relaxation, factor: int) -> Relaxation:
    """``problem`` on a grid ``factor`` times coarser per axis."""
    grid = problem.grid
    cells = tuple(n // factor for n in grid.cells)
    name = problem.name.split(",")[0] + f", {' × '.join(map(str, cells))} cells (--quick)"
    return replace(problem, name=name, grid=Grid(grid.lower, grid.upper, cells, grid.periodic))


PROBLEMS = (
    Relaxation("1-D double well, 800 cells", Grid((-3.0,), (3.0,), (800,), (False,)), 0.5,
               lambda x: 0.25 * x ** 4 - 0.5 * x ** 2 + 0.1 * x, (1.2,), 0.1, 60.0),
    Relaxation("2-D quadratic well, 256²", Grid((-3.0, -3.0), (3.0, 3.0), (256, 256), (False, False)), 0.25,
               lambda x: 0.5 * x ** 2, (1.0, -0.5), 0.3, 40.0),
)
SCHEMES = (
    ("explicit, CFL 0.5 (default)", Scheme(cfl=0.5)),
    ("explicit, CFL 1.0", Scheme(cfl=1.0)),
    ("implicit, Δt from the transport CFL 0.5", Scheme(diffusion="implicit", cfl=0.5)),
    ("implicit, Δt = 0.05", Scheme(diffusion="implicit", dt=0.05)),
    ("implicit, Δt = 0.5", Scheme(diffusion="implicit", dt=0.5)),
)


def relax(problem: Relaxation, scheme: Scheme, gibbs: np.ndarray, target: float, t_max: float) -> dict:
    """Step until e ≤ target (or t_max); the stepping time, steps, time reached, e, min μ."""
    grid = problem.grid
    solver = Solver(Problem(grid, problem.potential(), None, "balanced", 0.0, problem.tau), scheme,
                    problem.initial())
    seconds, low = 0.0, np.inf
    error = grid.integrate(np.abs(solver.mu - gibbs))
    while error > target and solver.t < t_max:
        started = time.perf_counter()
        solver.step(min(solver.stable_dt(), t_max - solver.t))
        seconds += time.perf_counter() - started
        mu = solver.mu
        low = min(low, float(mu.min()))
        error = grid.integrate(np.abs(mu - gibbs))
    return dict(seconds=seconds, steps=solver.steps, t=solver.t, error=error, min=low,
                drift=abs(grid.integrate(solver.mu) - 1.0), reached=error <= target)


def implicit_floor(problem: Relaxation, gibbs: np.ndarray, t: float) -> float:
    """e at time t of the implicit scheme by Δt = 1 steps: its steady state's error when t is
    long enough (the fixed point does not depend on Δt)."""
    solver = Solver(Problem(problem.grid, problem.potential(), None, "balanced", 0.0, problem.tau),
                    Scheme(diffusion="implicit", dt=1.0), problem.initial())
    solver.advance(t)
    return problem.grid.integrate(np.abs(solver.mu - gibbs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "IMPLICIT.md")
    parser.add_argument("--quick", action="store_true", help="grids 8x coarser per axis")
    parser.add_argument("--floor-t", type=float, nargs=2, default=(200.0, 60.0),
                        help="the time each problem is run to for the implicit floor (1-D, 2-D)")
    args = parser.parse_args()
    load = os.getloadavg()
    # compile the kernels of both schemes once, untimed
    warm = Relaxation("warm-up", Grid((-1.0,), (1.0,), (16,), (False,)), 0.5, lambda x: x ** 2, (0.0,), 0.3, 0.1)
    for _, scheme in SCHEMES:
        relax(warm, scheme, warm.gibbs(), 0.0, 0.01)
    lines = ["# Time to the Gibbs state: explicit against implicit diffusion", "",
             __doc__.split("Protocol (fixed before any timing was looked at):")[1].split("Run:")[0].strip(), "",
             f"- cores: {os.cpu_count()}; load average before (1/5/15 min): "
             + " / ".join(f"{x:.2f}" for x in load), ""]
    problems = [coarsened(problem, 8) for problem in PROBLEMS] if args.quick else PROBLEMS
    for problem, floor_t in zip(problems, args.floor_t):
        gibbs = problem.gibbs()
        lines += [f"## {problem.name}, τ = {problem.tau:g}", "",
                  f"- implicit floor (e at t = {floor_t:g}): {implicit_floor(problem, gibbs, floor_t):.3e}; "
                  f"target ε = {TARGET:.0e}", "",
                  "| scheme | time to e ≤ ε | steps | t reached | e there | min μ | mass drift |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        best = {}
        for label, scheme in SCHEMES:
            run = relax(problem, scheme, gibbs, TARGET, problem.t_max)
            kind = scheme.diffusion
            if run["reached"]:
                best[kind] = min(best.get(kind, np.inf), run["seconds"])
            shown = f"{run['seconds']:.2f} s" if run["reached"] else f"not reached ({run['seconds']:.1f} s)"
            lines.append(f"| {label} | {shown} | {run['steps']} | {run['t']:.3g} | {run['error']:.2e} | {run['min']:.1e} | "
                         f"{run['drift']:.1e} |")
            print(problem.name, label, run, flush=True)
        if len(best) == 2:
            lines += ["", f"- best explicit / best implicit: **{best['explicit'] / best['implicit']:.1f}×**"]
        lines.append("")
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
