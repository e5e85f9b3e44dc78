"""The scalars a sweep table keeps of each finished task, read back from what it wrote.

Grid runs (``task = "run"``): the end-of-run summary (steps, wall time, final mass,
energy and loss, relative mass drift M_end/M_0 − 1), for each ``[thresholds]`` entry the
first time the diagnostic falls to the value, and, where the case is one of the exact
Gaussian flows (:func:`~pdesolve.analysis.exact.exact_flow_of_case`), the L¹ error
Σ_i |μ_i(T) − μ_exact(x_i, T)| |cell| at the last snapshot (``l1_error_exact``).  Particle runs: steps, wall time, the
largest Δt, and the replicate means (with standard errors) of the final energy and mass.
Comparisons: wall time, and per observable the LLN slope of the mean error against n at the
last compared time (theory −½) with its confidence interval.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..analysis.exact import exact_flow_of_case
from ..analysis.statistics import mean_and_standard_error
from ..config.case import Case
from ..io.grid_result import read_result
from ..io.particle_result import read_particles
from .spec import threshold_name


def first_time_at_or_below(t: np.ndarray, values: np.ndarray, threshold: float) -> float:
    """The first t with values(t) ≤ threshold, linear between the stored diagnostic times
    (so resolved only to their spacing); NaN when never reached, t₀ when already there."""
    defined = np.isfinite(values)     # l1_change is NaN where there is no previous snapshot
    t, values = t[defined], values[defined]
    below = np.flatnonzero(values <= threshold)
    if below.size == 0:
        return math.nan
    k = int(below[0])
    if k == 0:
        return float(t[0])
    v0, v1 = float(values[k - 1]), float(values[k])
    return float(t[k - 1] + (t[k] - t[k - 1]) * (v0 - threshold) / (v0 - v1))


def grid_scalars(path: Path, thresholds: Mapping[str, tuple[float, ...]], case: Case) -> dict[str, float]:
    result = read_result(path)
    summary = result.summary
    scalars = {name: float(summary[name]) for name in
               ("steps", "wall_time", "mass_final", "mass_drift", "energy_final", "loss_final")
               if name in summary}
    t = result.diagnostics["t"]
    for diagnostic, values in thresholds.items():
        series = result.diagnostics.get(diagnostic)
        for value in values:
            scalars[threshold_name(diagnostic, value)] = (
                math.nan if series is None else first_time_at_or_below(t, series, value))
    flow = exact_flow_of_case(case)
    if flow is not None:
        exact = flow.state(float(result.times[-1])).density(result.grid)
        scalars["l1_error_exact"] = result.grid.integrate(np.abs(result.mu[-1] - exact))
    return scalars


def particle_scalars(path: Path) -> dict[str, float]:
    result = read_particles(path)
    scalars = {name: float(result.summary[name]) for name in ("steps", "wall_time", "dt")}
    for name in ("energy", "mass"):
        final = getattr(result, name)[:, -1]
        mean, se = mean_and_standard_error(final) if final.size > 1 else (final[0], math.nan)
        scalars[f"{name}_final"] = float(mean)
        scalars[f"{name}_final_se"] = float(se)
    return scalars


def comparison_scalars(folder: Path) -> dict[str, float]:
    report = json.loads((folder / "report.json").read_text())
    scalars = {"wall_time": float(sum(report["seconds_per_n"].values()))}
    for observable in report["observables"]:
        lln = observable["times"][-1]["lln"]
        slope, ci = lln["slope"], lln["slope_ci"] or (None, None)
        name = observable["name"]
        scalars[f"lln_slope_{name}"] = math.nan if slope is None else float(slope)
        scalars[f"lln_slope_{name}_low"] = math.nan if ci[0] is None else float(ci[0])
        scalars[f"lln_slope_{name}_high"] = math.nan if ci[1] is None else float(ci[1])
    return scalars


def task_scalars(kind: str, target: Path, thresholds: Mapping[str, tuple[float, ...]],
                 case: Case) -> dict[str, float]:
    """The scalars of the finished task of ``kind`` that ran ``case`` into ``target``."""
    if kind == "run":
        return grid_scalars(target, thresholds, case)
    if kind == "particles":
        return particle_scalars(target)
    return comparison_scalars(target)
