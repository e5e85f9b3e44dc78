"""Grid PDE vs particle ensembles (DESIGN §4): law of large numbers and central limit theorem.

:func:`compare_case` runs the grid PDE of a case once, then R independent particle
replicates for each population size n, and measures observables φ of both at a few
comparison times t:

* signed observables ⟨φ, μ⟩: the mass ∫dμ (only when it can fluctuate: unbalanced
  reaction), the mean ∫x_a dμ/∫dμ and second moment ∫x_a² dμ/∫dμ per axis, and the
  energy E = ∫F dμ + ½∫∫K dμdμ (no entropy term on either side);
* distances to the grid μ_t: L¹ of the particle histogram on the grid's cells,
  Σ|μⁿ_i − μ_i| |cell|, and per axis the 1-D Wasserstein distance W₁ between the
  normalised marginals, Σ_faces |Pⁿ − P| h_a with P the marginal CDF at the cell faces.

Law of large numbers: error_n = mean over replicates of |⟨φ,μⁿ_t⟩ − ⟨φ,μ_t⟩| (the
distance itself for distances) should fall like n^{−½}.  Central limit theorem (signed
observables): ωⁿ = √n (⟨φ,μⁿ_t⟩ − ⟨φ,μ_t⟩) should be Gaussian, with the variance that
the linearised fluctuation equation predicts (:mod:`pdesolve.analysis.fluctuations`; balanced
reaction or none, checked against each n's 99% CI), equal to Var_{μ_t}(φ) when the particles
are independent (no reaction, K = 0).

Slope confidence intervals: log error_n is regressed on log n by weighted least squares,
each point weighted by 1/σ², σ = SE/error_n the delta-method standard error of the log of a
mean over R replicates; the 95% CI is slope ± 1.96 SE(slope) with these σ taken as known.
It ignores the noise in the estimated σ (small for R ≳ 16; the coverage is checked on
synthetic data in the tests) and it assumes one power law: the chi-square fit p-value
says when the points do not lie on a line (e.g. a bias floor at large n).  The flatness
slope of log Var(ωⁿ) uses the exact σ² = ψ′((R−1)/2) of a Gaussian sample's log variance.

Bias check: the grid's discretisation error and the particle Δt bias must be below the
smallest Monte Carlo error for the slopes to mean anything.  Both are Richardson
estimates: grid bias ≈ (φ_h − φ_{h/2})·2ᵖ/(2ᵖ − 1), p the scheme order, from a rerun at 2×
cells per axis; Δt bias ≈ 2(φ_Δt − φ_{Δt/2}) (the particle step is first order: Euler or
Heun moves, birth–death split off), from the largest n rerun at Δt/2 with the same seeds
(paired replicates, so the standard error is that of the mean paired difference).

Seeds: population size n uses the seed SeedSequence([seed, n]) (so ensembles of
different n are independent); replicate r is its r-th child inside run_particles.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..model.build import Setup, build_setup
from ..config.case import Case, CaseError
from .comparison_report import write_report
from ..model.grid import AXIS_NAMES, Grid
from ..model.schedule import Constant
from ..drive.particle_run import DaskPool, check_memory, make_plan, run_particles
from ..io.atomic import process_alive, temporaries, temporary_path
from ..fv.solver import Solver, StabilityError
from .fluctuations import VariancePrediction, predict_variances, unpredicted_reason
from .statistics import (fit_log_log_slope, mean_and_standard_error, normality_p_value,
                         variance_flatness, variance_interval)

DEFAULT_TIME_COUNT = 4
LEVEL = 0.95
EXACT_LEVEL = 0.99
DT_FACTOR = 2.0     # Richardson: bias(Δt) ≈ 2 (φ_Δt − φ_Δt/2) for a first-order step


@dataclass(frozen=True)
class Observable:
    """A compared quantity: ``signed`` ⟨φ, μ⟩ (LLN and CLT), else a distance to the grid
    μ_t (LLN only: √n·distance is not Gaussian)."""

    name: str
    label: str
    signed: bool


@dataclass
class GridReference:
    """The grid solution at the comparison times: μ_t (T, *shape), F and K⋆μ_t on the cells."""

    grid: Grid
    times: np.ndarray
    mu: np.ndarray
    potential: np.ndarray
    interaction: np.ndarray


def comparison_times(t_end: float, count: int = DEFAULT_TIME_COUNT) -> np.ndarray:
    """``count`` evenly spaced times in (0, t_end], the last one t_end: t_end·k/count."""
    return t_end * np.arange(1, count + 1) / count


def check_sizes(ns: Sequence[int], replicates: int) -> tuple[int, ...]:
    """The population sizes as ints; ValueError unless they are ≥ 1, strictly increasing,
    at least two of them, and replicates ≥ 2."""
    sizes = tuple(int(n) for n in ns)
    if any(n != float(m) for n, m in zip(sizes, ns)):
        raise ValueError(f"population sizes must be integers, got {list(ns)}")
    if len(sizes) < 2:
        raise ValueError(f"need at least two population sizes to fit a slope, got {list(sizes)}")
    if min(sizes) < 1:
        raise ValueError(f"population sizes must be >= 1, got {list(sizes)}")
    if any(b <= a for a, b in zip(sizes, sizes[1:])):
        raise ValueError(f"population sizes must be strictly increasing, got {list(sizes)}")
    if int(replicates) != replicates or replicates < 2:
        raise ValueError(f"need at least 2 replicates for a variance, got {replicates}")
    return sizes


def ensemble_seed(seed: int, n: int) -> int:
    """The run_particles seed of the ensemble of size n: a 64-bit draw of SeedSequence([seed, n])."""
    return int(np.random.SeedSequence([seed, n]).generate_state(1, np.uint64)[0])


def grid_reference(case: Case, times: np.ndarray, setup: Setup | None = None) -> GridReference:
    """Run the grid PDE of ``case`` (built as ``setup`` if given) and keep μ, F and K⋆μ
    at ``times``."""
    setup = build_setup(case) if setup is None else setup
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    mu, interaction = [], []
    for t in times:
        solver.advance(float(t))
        mu.append(solver.mu.copy())
        interaction.append(solver.potential() - setup.problem.potential)
    return GridReference(setup.grid, np.asarray(times, dtype=float), np.array(mu),
                         setup.problem.potential, np.array(interaction))


def refined_case(case: Case) -> Case:
    """The same case with twice as many cells per axis (for the grid's discretisation error)."""
    grid = dataclasses.replace(case.grid, cells=tuple(2 * c for c in case.grid.cells))
    return dataclasses.replace(case, grid=grid)


def grid_bias_estimates(case: Case, reference: GridReference, observables: list[Observable],
                        factor: float) -> tuple[dict[str, np.ndarray], str | None]:
    """Richardson estimate of the grid's error per observable, each (T,):
    factor·(φ_h − φ_{h/2}) from a rerun at 2× cells per axis (distances: factor times the
    distance between the two solutions on the coarse cells), and None; or ({}, why) when
    the refined case cannot run."""
    try:
        refined = grid_reference(refined_case(case), reference.times)
    except (CaseError, StabilityError, ValueError) as err:
        return {}, f"no 2x-refined grid run: {err}"
    coarse, fine = grid_values(reference), grid_values(refined)
    far = distances(restrict(refined.mu, reference.grid.ndim), reference.mu, reference.grid)
    return {o.name: factor * ((coarse[o.name] - fine[o.name]) if o.signed else far[o.name])
            for o in observables}, None


def restrict(mu: np.ndarray, ndim: int) -> np.ndarray:
    """Cell averages of a density on a 2×-refined grid over the coarse cells (leading axes kept)."""
    lead = mu.shape[:mu.ndim - ndim]
    shape = lead + sum(((c // 2, 2) for c in mu.shape[mu.ndim - ndim:]), ())
    return mu.reshape(shape).mean(axis=tuple(len(lead) + 2 * a + 1 for a in range(ndim)))


def observables_for(ndim: int, mass_fluctuates: bool) -> list[Observable]:
    """The compared quantities of a d-dimensional case (see the module docstring)."""
    names = AXIS_NAMES[:ndim]
    signed = [Observable("mass", "mass ∫dμ", True)] if mass_fluctuates else []
    signed += [Observable(f"mean_{x}", f"mean of {x}", True) for x in names]
    signed += [Observable(f"second_moment_{x}", f"second moment of {x}", True) for x in names]
    signed.append(Observable("energy", "energy ∫F dμ + ½∫∫K dμdμ", True))
    distances = [Observable("l1", "L¹ distance of the histogram", False)]
    distances += [Observable(f"w1_{x}", f"W₁ of the {x}-marginal", False) for x in names]
    return signed + distances


def grid_values(reference: GridReference) -> dict[str, np.ndarray]:
    """Signed observables of the grid μ_t, each (T,): mass, mean_a, second_moment_a, energy."""
    grid = reference.grid
    mu = reference.mu
    cells = tuple(range(1, mu.ndim))
    mass = mu.sum(axis=cells) * grid.cell_volume
    values = {"mass": mass}
    for name, x in zip(AXIS_NAMES, grid.mesh()):
        values[f"mean_{name}"] = (mu * x).sum(axis=cells) * grid.cell_volume / mass
        values[f"second_moment_{name}"] = (mu * x ** 2).sum(axis=cells) * grid.cell_volume / mass
    density = (reference.potential + 0.5 * reference.interaction) * mu
    values["energy"] = density.sum(axis=cells) * grid.cell_volume
    return values


def particle_values(result: dict, ndim: int) -> dict[str, np.ndarray]:
    """Signed observables of each particle replicate, each (R, T), from run_particles output
    (second moment = covariance_aa + mean_a²)."""
    values = {"mass": result["mass"], "energy": result["energy"]}
    for a, name in enumerate(AXIS_NAMES[:ndim]):
        mean = result["mean"][..., a]
        values[f"mean_{name}"] = mean
        values[f"second_moment_{name}"] = result["covariance"][..., a, a] + mean ** 2
    return values


def distances(density: np.ndarray, reference: np.ndarray, grid: Grid) -> dict[str, np.ndarray]:
    """L¹ and per-axis W₁ between densities on ``grid``'s cells, over the leading axes
    (``reference`` broadcasts against ``density``):

        L¹ = Σ_i |ρ_i − μ_i| |cell|,
        W₁^a = h_a Σ_{j < N_a − 1} |P_j − Q_j|,  P, Q the CDFs at the inner faces of the
        a-marginals of ρ and μ, each normalised to mass 1 (W₁ of the measures with the
        marginal cell masses at the cell centres).
    """
    d = grid.ndim
    cells = tuple(range(density.ndim - d, density.ndim))
    result = {"l1": np.abs(density - reference).sum(axis=cells) * grid.cell_volume}
    for a, name in enumerate(AXIS_NAMES[:d]):
        others = tuple(c for c in cells if c != cells[a])
        p = density.sum(axis=others)
        q = np.broadcast_to(reference, density.shape).sum(axis=others)
        p_cdf = np.cumsum(p, axis=-1) / p.sum(axis=-1, keepdims=True)
        q_cdf = np.cumsum(q, axis=-1) / q.sum(axis=-1, keepdims=True)
        result[f"w1_{name}"] = np.abs(p_cdf - q_cdf)[..., :-1].sum(axis=-1) * grid.spacing[a]
    return result


def exact_variances(reference: GridReference) -> dict[str, np.ndarray]:
    """Var_{μ_t}(φ) of the independent-particle CLT, each (T,), with p = μ_t/M:
    mean_a: E_p[x_a²] − E_p[x_a]², second_moment_a: E_p[x_a⁴] − E_p[x_a²]²,
    energy (= M·E_pⁿ[F]): M² (E_p[F²] − E_p[F]²)."""
    grid = reference.grid
    mu = reference.mu
    cells = tuple(range(1, mu.ndim))
    mass = mu.sum(axis=cells) * grid.cell_volume

    def expect(g: np.ndarray) -> np.ndarray:
        return (mu * g).sum(axis=cells) * grid.cell_volume / mass

    result = {}
    for name, x in zip(AXIS_NAMES, grid.mesh()):
        result[f"mean_{name}"] = expect(x ** 2) - expect(x) ** 2
        result[f"second_moment_{name}"] = expect(x ** 4) - expect(x ** 2) ** 2
    f = reference.potential
    result["energy"] = mass ** 2 * (expect(f ** 2) - expect(f) ** 2)
    return result


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"compare: {message}", file=sys.stderr, flush=True)


def _observed(result: dict, observables: list[Observable], reference: GridReference,
              exact_grid: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(R, T) per observable: signed error ⟨φ,μⁿ⟩ − ⟨φ,μ⟩ or the distance to the grid."""
    grid = reference.grid
    values = particle_values(result, grid.ndim)
    far = distances(np.asarray(result["histogram"]), reference.mu, grid)
    return {o.name: (values[o.name] - exact_grid[o.name]) if o.signed else far[o.name]
            for o in observables}


def _lln(ns: tuple[int, ...], errors: list[np.ndarray]) -> dict:
    """Mean |error| per n with standard errors, and the fitted log–log slope."""
    means, ses = zip(*(map(float, mean_and_standard_error(np.abs(e))) for e in errors))
    means, ses = list(means), list(ses)
    entry = {"error": means, "error_se": ses, "slope": None, "slope_ci": None, "fit_p": None,
             "theory_in_ci": None}
    try:
        fit = fit_log_log_slope(ns, means, ses, LEVEL)
    except ValueError:
        return entry
    entry.update(slope=fit.slope, slope_ci=list(fit.ci), fit_p=fit.fit_p,
                 theory_in_ci=bool(fit.ci[0] <= -0.5 <= fit.ci[1]))
    return entry


def _clt(ns: tuple[int, ...], errors: list[np.ndarray], exact: float | None,
         predicted: dict | None = None) -> dict:
    """ωⁿ = √n·error per n: variance with 95 and 99% CIs, normality, flatness, exact check,
    and the check of the linearised prediction ``predicted`` ({"at_n": per n, "large_n",
    "continuous_time"}, :mod:`pdesolve.analysis.fluctuations`) when given."""
    omegas = [math.sqrt(n) * e for n, e in zip(ns, errors)]
    ci95 = [variance_interval(w, LEVEL) for w in omegas]
    ci99 = [variance_interval(w, EXACT_LEVEL) for w in omegas]
    entry = {"omega": [w.tolist() for w in omegas],
             "mean": [float(w.mean()) for w in omegas],
             "variance": [c[0] for c in ci95],
             "variance_ci95": [[c[1], c[2]] for c in ci95],
             "variance_ci99": [[c[1], c[2]] for c in ci99],
             "normality_p": [normality_p_value(w) for w in omegas],
             "flatness_p": None, "variance_slope": None, "variance_slope_ci": None,
             "exact_variance": exact, "exact_in_ci99": None,
             "predicted_variance": None, "predicted_large_n": None,
             "predicted_continuous_time": None, "predicted_in_ci99": None}
    if min(c[0] for c in ci95) > 0:
        flat = variance_flatness(omegas, ns, LEVEL)
        entry.update(flatness_p=flat.p_value, variance_slope=flat.slope.slope,
                     variance_slope_ci=list(flat.slope.ci))
    if exact is not None:
        entry["exact_in_ci99"] = [bool(c[1] <= exact <= c[2]) for c in ci99]
    if predicted is not None:
        entry.update(predicted_variance=list(predicted["at_n"]),
                     predicted_large_n=predicted["large_n"],
                     predicted_continuous_time=predicted["continuous_time"],
                     predicted_in_ci99=[bool(c[1] <= v <= c[2])
                                        for v, c in zip(predicted["at_n"], ci99)])
    return entry


def predicted_variances(setup: Setup, times: np.ndarray, observables: list[Observable],
                        ns: tuple[int, ...], dt: float) -> tuple[VariancePrediction | None, str | None]:
    """The linearised prediction of Var(ωⁿ) for the signed observables (the mass excepted),
    or (None, why not)."""
    reason = unpredicted_reason(setup)
    if reason:
        return None, f"no linearised prediction for {reason}"
    names = [o.name for o in observables if o.signed and o.name != "mass"]
    try:
        return predict_variances(setup, times, names, ns, dt), None
    except (ValueError, StabilityError, FloatingPointError) as err:    # the particle runs are kept
        return None, f"no linearised prediction: {err}"


def _predicted_at(prediction: VariancePrediction | None, name: str, k: int) -> dict | None:
    """The prediction of observable ``name`` at time index k for :func:`_clt`."""
    if prediction is None or name not in prediction.at_n:
        return None
    return {"at_n": [float(v) for v in prediction.at_n[name][:, k]],
            "large_n": float(prediction.large_n(name)[k]),
            "continuous_time": float(prediction.continuous_time(name)[k])}


def bias_verdict(grid: float | None, dt: float, dt_se: float | None, monte_carlo: float) -> str:
    """"below" when |grid| < MC error and the 95% upper bound |dt| + z·SE < MC error;
    "NOT below" when |grid| ≥ MC error or the lower bound |dt| − z·SE > MC error;
    "inconclusive" otherwise (the Δt bias estimate is too noisy: more replicates needed);
    "not measured" without a grid bias."""
    if grid is None:
        return "not measured"
    z = float(stats.norm.ppf(0.5 + LEVEL / 2))
    spread = z * (dt_se or 0.0)
    if abs(grid) >= monte_carlo or abs(dt) - spread > monte_carlo:
        return "NOT below"
    return "below" if abs(dt) + spread < monte_carlo else "inconclusive"


def error_inflation(ratio: float) -> float:
    """E|σZ + b| / E|σZ| − 1 for Z ~ N(0, 1), r = b/σ: (2φ(r) + r(2Φ(r) − 1))/√(2/π) − 1
    (φ, Φ the standard normal density and CDF).  How much a bias b inflates the mean |error|
    of an estimator with Monte Carlo std σ: 4.5% at r = 0.3, 12% at r = 0.5, 46% at r = 1."""
    r = abs(ratio)
    return float((2 * stats.norm.pdf(r) + r * (2 * stats.norm.cdf(r) - 1)) / math.sqrt(2 / math.pi) - 1)


def _bias(observable: Observable, k: int, largest: np.ndarray, grid_bias: float | None,
          dt_bias: tuple[float, float | None]) -> dict:
    """Grid and Δt bias estimates at time index k against the Monte Carlo error at the
    largest n (the std of the signed error, or the mean distance) and their
    :func:`bias_verdict`; for signed observables also the :func:`error_inflation` of the
    total (|grid| + |Δt|) bias at the largest n.  Distances have no SE: their Δt bias comes
    from the distance between replicate-mean histograms, an upper bound that includes noise."""
    column = largest[:, k]
    monte_carlo = float(column.std(ddof=1)) if observable.signed else float(column.mean())
    dt_value, dt_se = dt_bias
    verdict = bias_verdict(grid_bias, dt_value, dt_se, monte_carlo)
    inflation = None
    if observable.signed and grid_bias is not None and monte_carlo > 0:
        inflation = error_inflation((abs(grid_bias) + abs(dt_value)) / monte_carlo)
    return {"grid": grid_bias, "dt": dt_value, "dt_se": dt_se, "monte_carlo": monte_carlo,
            "error_inflation": inflation, "verdict": verdict, "below": verdict == "below"}


def compare_case(case: Case, ns: Sequence[int], replicates: int, outdir: Path, *,
                 seed: int | None = None, times: Sequence[float] | None = None,
                 workers: int | None = None, dt: float | None = None,
                 progress: bool = True, pool: DaskPool | None = None, figures: bool = True) -> dict:
    """Compare the particle method with the grid PDE of ``case`` and write the report.

    Runs the grid once (and once at 2× cells for its discretisation error), ``replicates``
    particle replicates for every n in ``ns`` (largest first: when ``dt`` is None its Δt,
    from the case, fixes the step of every ensemble) and the largest n again at Δt/2.
    ``times`` defaults to :func:`comparison_times` of the case's t_end; ``seed`` to the
    case's particles.seed.  Replicates run on ``workers`` processes, or on the Dask cluster
    of ``pool``; the report does not depend on which.  Writes report.json, report.md and (unless
    ``figures`` is False) lln.png, clt.png and
    clt_variance.png to ``outdir``; returns the report (see :mod:`pdesolve.analysis.comparison_report`).
    """
    sizes = check_sizes(ns, replicates)
    t_end = case.time.t_end
    times = comparison_times(t_end) if times is None else np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise ValueError("comparison times must be positive and strictly increasing")
    seed = int(case.particles.seed if seed is None else seed)
    setup = build_setup(case)
    # before any work: the largest ensemble in flight while two whole ensembles are kept
    check_memory(make_plan(case, n=sizes[-1], replicates=replicates, times=times, dt=dt)[0],
                 1 if pool else workers, held=3 * replicates)
    mass_fluctuates = setup.problem.has_reaction and not setup.problem.reaction_model.conserves_mass
    independent = not setup.problem.has_reaction and setup.problem.interaction is None
    observables = observables_for(setup.grid.ndim, mass_fluctuates)

    started = time.perf_counter()
    _say(progress, f"grid reference on {setup.grid.shape} cells")
    reference = grid_reference(case, times, setup)
    exact_grid = grid_values(reference)
    grid_factor = 2 ** setup.scheme.order / (2 ** setup.scheme.order - 1)
    grid_bias, grid_bias_note = grid_bias_estimates(case, reference, observables, grid_factor)
    if grid_bias_note:
        _say(progress, grid_bias_note)

    errors, seconds, steps, largest = {}, {}, {}, None
    for n in sorted(sizes, reverse=True):
        _say(progress, f"{replicates} replicates of n = {n}")
        clock = time.perf_counter()
        result = run_particles(case, n=n, replicates=replicates, seed=ensemble_seed(seed, n),
                               times=times, dt=dt, workers=workers, pool=pool)
        seconds[n] = time.perf_counter() - clock
        steps[n] = float(result["dt"])
        errors[n] = _observed(result, observables, reference, exact_grid)
        if largest is None:
            largest = result
            dt = steps[n] if dt is None else dt
    _say(progress, f"{replicates} replicates of n = {sizes[-1]} at dt/2 = {dt / 2:.4g}")
    half = run_particles(case, n=sizes[-1], replicates=replicates,
                         seed=ensemble_seed(seed, sizes[-1]), times=times, dt=dt / 2, workers=workers,
                         pool=pool)
    half_errors = _observed(half, observables, reference, exact_grid)
    mean_histograms = [np.asarray(r["histogram"]).mean(axis=0) for r in (largest, half)]
    dt_far = distances(mean_histograms[1], mean_histograms[0], setup.grid)

    exact = exact_variances(reference) if independent else {}
    _say(progress, "linearised fluctuation prediction")
    prediction, prediction_note = predicted_variances(setup, times, observables, sizes, dt)
    entries = []
    for o in observables:
        per_time = []
        for k, t in enumerate(times):
            per_n = [errors[n][o.name][:, k] for n in sizes]
            if o.signed:
                difference = errors[sizes[-1]][o.name][:, k] - half_errors[o.name][:, k]
                mean, se = mean_and_standard_error(DT_FACTOR * difference)
                dt_bias = (float(mean), float(se))
            else:
                dt_bias = (DT_FACTOR * float(dt_far[o.name][k]), None)
            per_time.append({
                "t": float(t),
                "grid_value": float(exact_grid[o.name][k]) if o.signed else None,
                "lln": _lln(sizes, per_n),
                "clt": _clt(sizes, per_n, float(exact[o.name][k]) if o.name in exact else None,
                            _predicted_at(prediction, o.name, k)) if o.signed else None,
                "bias": _bias(o, k, errors[sizes[-1]][o.name],
                              float(grid_bias[o.name][k]) if grid_bias else None, dt_bias)})
        entries.append({"name": o.name, "label": o.label, "signed": o.signed, "times": per_time})

    report = {
        "generator": "pdesolve compare",
        "case": str(case.path),
        "title": case.title or case.path.stem,
        "ns": list(sizes),
        "replicates": int(replicates),
        "seed": seed,
        "ensemble_seeds": {str(n): ensemble_seed(seed, n) for n in sizes},
        "times": [float(t) for t in times],
        "dt": dt,
        "dt_per_n": {str(n): steps[n] for n in sizes},
        "seconds_per_n": {str(n): seconds[n] for n in sizes},
        "grid_cells": list(setup.grid.cells),
        "refined_cells": [2 * c for c in setup.grid.cells],
        "grid_bias_note": grid_bias_note,
        "bias_factors": {"grid": grid_factor, "dt": DT_FACTOR},
        "reaction": setup.problem.reaction,
        "alpha": setup.problem.alpha.as_json(),     # a number, or the schedule's text or table
        **({} if isinstance(setup.problem.alpha, Constant) else {"alpha_text": setup.problem.alpha.describe()}),
        "interaction": setup.problem.interaction is not None,
        "independent_particles": independent,
        "prediction_note": prediction_note,
        "prediction_steps": prediction.steps if prediction else None,
        "level": LEVEL,
        "exact_level": EXACT_LEVEL,
        "observables": entries,
    }
    _say(progress, f"writing the report ({time.perf_counter() - started:.1f} s so far)")   # outdir may be a hidden temporary
    write_report(report, Path(outdir), figures)
    return report


def compare_into(case: Case, ns: Sequence[int], replicates: int, outdir: Path, **options) -> dict:
    """:func:`compare_case` written into a hidden folder beside ``outdir`` and renamed to it
    (replacing an existing report) only when the whole report is there: a failed or
    interrupted comparison leaves no report folder behind (and one left by a killed process
    is deleted here)."""
    outdir = Path(outdir)
    for left, pid in temporaries(outdir, (".creating",)):
        if pid != os.getpid() and not process_alive(pid, left):
            shutil.rmtree(left, ignore_errors=True)
    building = temporary_path(outdir, ".creating")
    try:
        report = compare_case(case, ns, replicates, building, **options)
        if outdir.exists():
            shutil.rmtree(outdir)
        building.rename(outdir)
    finally:
        shutil.rmtree(building, ignore_errors=True)  # left only if the report did not land
    return report

