"""Validation: which mean-field PDE the reinjection particle algorithms converge to.

Runs ``cases/reinjection_1d.toml`` on the grid with both reinjection reactions
(``reinjection``: event-wise refill, ``reinjection_deficit``: DESIGN §1) and with both
particle algorithms of the same names, and measures the error of the particle mean
position against each PDE

* against n at a fixed Δt (the law of large numbers, with a fitted slope);
* at a fixed n against Δt, where the number of birth–death events per step
  λ = nαΔt⟨|V|⟩ goes to 0 and the literal "refill the deficit" algorithm leaves the
  DESIGN §1 PDE for the event-wise one (README.md, "Reinjection").

Writes ``reinjection_limit.png`` and ``reinjection_limit.md``.

    python validation/reinjection_limit.py [--quick] [--outdir validation]
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pdesolve import Solver, build_setup, load_case, run_particles
from _common import script_arguments

CASE = Path(__file__).resolve().parent.parent / "cases" / "reinjection_1d.toml"
REACTIONS = ("reinjection", "reinjection_deficit")
T_COMPARE = 1.0
SEED = 11


def case_with(reaction: str):
    return load_case(CASE, (f"dynamics.reaction={reaction}",))


def grid_mean(reaction: str) -> float:
    """∫x dμ_t at T_COMPARE from the grid PDE of ``reaction``."""
    setup = build_setup(case_with(reaction))
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    solver.advance(T_COMPARE)
    x = setup.grid.axes[0]
    return float(setup.grid.integrate(x * solver.mu) / setup.grid.integrate(solver.mu))


def initial_event_rate() -> float:
    """α ∫|V| dμ₀: expected birth–death events per particle and unit time at t = 0."""
    setup = build_setup(case_with("reinjection"))
    return setup.problem.alpha.value_at(0.0) * float(setup.grid.integrate(np.abs(setup.problem.potential) * setup.mu0))


@functools.cache  # the n = 1000 ensemble of the Δt scan is also a point of the n scan
def particle_means(reaction: str, n: int, dt: float, replicates: int) -> np.ndarray:
    """The particle mean position at T_COMPARE, one value per replicate."""
    result = run_particles(case_with(reaction), n=n, seed=SEED, times=[T_COMPARE], dt=dt,
                           replicates=replicates)
    return result["mean"][:, 0, 0]


def fitted_slope(ns, errors) -> tuple[float, float]:
    """Least-squares slope of log error on log n and its standard error."""
    x, y = np.log(ns), np.log(errors)
    coefficients, covariance = np.polyfit(x, y, 1, cov=True)
    return float(coefficients[0]), float(np.sqrt(covariance[0, 0]))


def main(argv=None) -> None:
    args = script_arguments(__doc__, "small n, few replicates", argv)
    ns = [100, 1000, 10000] if args.quick else [100, 1000, 10000, 100000]
    replicates = 4 if args.quick else 16
    dt = 0.01 if args.quick else 0.0025
    dts = [0.04, 0.01] if args.quick else [0.08, 0.04, 0.02, 0.01, 0.005, 0.0025, 0.00125]
    n_fixed = 1000

    rate = initial_event_rate()
    exact = {reaction: grid_mean(reaction) for reaction in REACTIONS}
    by_n = {r: [particle_means(r, n, dt, replicates) for n in ns] for r in REACTIONS}
    by_dt = [particle_means("reinjection_deficit", n_fixed, step, replicates) for step in dts]

    rows = []
    figure = Figure(figsize=(11, 4.2))
    left, right = figure.subplots(1, 2)
    for particles in REACTIONS:
        for pde in REACTIONS:
            errors = [float(np.mean(np.abs(m - exact[pde]))) for m in by_n[particles]]
            slope, slope_se = fitted_slope(ns, errors)
            rows.append((particles, pde, errors, slope, slope_se))
            style = "-" if particles == pde else "--"
            left.loglog(ns, errors, style, marker="o",
                        label=f"particles '{particles}' vs PDE '{pde}' (slope {slope:.2f})")
    reference = rows[0][2][0] * (np.asarray(ns) / ns[0]) ** -0.5
    left.loglog(ns, reference, ":", color="grey", label="n^(-1/2)")
    left.set_xlabel("particles n")
    left.set_ylabel(f"mean over replicates of |mean_n − mean|, t = {T_COMPARE}")
    left.set_title(f"error vs n at Δt = {dt}")
    left.legend(fontsize=7)

    means = np.array([m.mean() for m in by_dt])
    errors_of_mean = np.array([m.std(ddof=1) / np.sqrt(m.size) for m in by_dt])
    right.errorbar(dts, means, yerr=2 * errors_of_mean, marker="o", capsize=3,
                   label=f"particles 'reinjection_deficit', n = {n_fixed} (±2 s.e.)")
    for pde, colour in zip(REACTIONS, ("C1", "C2")):
        right.axhline(exact[pde], color=colour, ls="--", label=f"grid PDE '{pde}'")
    right.set_xscale("log")
    right.set_xlabel("Δt")
    right.set_ylabel(f"mean position at t = {T_COMPARE}")
    right.set_title("the literal algorithm's limit depends on nΔt")
    right.legend(fontsize=7)
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(args.outdir / "reinjection_limit.png")

    lines = ["Generated by `python validation/reinjection_limit.py`; do not edit.", "",
             f"Case `cases/reinjection_1d.toml`, observable: mean position at t = {T_COMPARE}, "
             f"{replicates} replicates per point, seed {SEED}.",
             f"Grid PDE values: 'reinjection' {exact['reinjection']:.5f}, "
             f"'reinjection_deficit' {exact['reinjection_deficit']:.5f}.", "",
             f"Error against n at Δt = {dt} (mean over replicates of the absolute error):", "",
             "| particle algorithm | grid PDE | n = " + ", ".join(map(str, ns))
             + " | fitted slope ± s.e. |", "|---|---|---|---|"]
    for particles, pde, errors, slope, slope_se in rows:
        lines.append(f"| {particles} | {pde} | " + ", ".join(f"{e:.2e}" for e in errors)
                     + f" | {slope:.2f} ± {slope_se:.2f} |")
    lines += ["", f"Literal algorithm ('reinjection_deficit' particles), n = {n_fixed}, against Δt:",
              "", "| Δt | events per step at t = 0, λ = nαΔt∫|V|dμ₀ | particle mean ± s.e. | distance to 'reinjection' PDE "
              "| distance to 'reinjection_deficit' PDE |", "|---|---|---|---|---|"]
    for step, mean, se in zip(dts, means, errors_of_mean):
        lines.append(f"| {step:g} | {n_fixed * step * rate:.3g} | {mean:.4f} ± {se:.4f} | "
                     f"{abs(mean - exact['reinjection']):.4f} | "
                     f"{abs(mean - exact['reinjection_deficit']):.4f} |")
    (args.outdir / "reinjection_limit.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
