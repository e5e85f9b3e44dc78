"""Figures of a particle result (``pdesolve particles``): observables over time with replicate
bands, the particle histogram next to the grid run's μ, and the positions when saved.

* ``observables.png``: mass, mean and variance per axis, and energy against t; each
  replicate as a thin line (at most MAX_REPLICATE_LINES), their mean, and a band of ± one
  sample standard deviation.  With ``against`` (a grid result of the same case), the grid
  run's curves on top: its mass and energy diagnostics (energy only without entropy, τ = 0,
  since the particle energy has no entropy term) and the moments of its snapshots.
* ``histogram.png``: the replicates' mean histogram (the particle density on the case grid)
  at the last output time, with its ± 1 s.d. band in 1-D; in 2-D an image, in 3-D the
  projection on the first two axes; with ``against``, the grid μ at its nearest snapshot.
* ``positions.png`` (when positions were kept): replicate 0 at the first and last output
  time, as a histogram in 1-D, points in 2-D and 3-D (first two axes).

A run that did not finish is drawn as far as it got, its titles saying so.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..io.atomic import ResultFormatError
from ..io.grid_result import read_result
from ..io.particle_result import read_particles
from .figures import DENSITY_CMAP, PlotOptions, axis_names, density_image, density_norm, result_title, save, titled

MAX_REPLICATE_LINES = 50


def plot_particles(path: str | os.PathLike, outdir: str | os.PathLike,
                   against: str | os.PathLike | None = None, options: PlotOptions = PlotOptions()) -> list[Path]:
    """Write the figures of the particle result ``path`` into ``outdir``; the paths written."""
    figures = particle_figures(path, against, options)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [save(figure, title, outdir, name, options) for name, (figure, title) in figures.items()]


def particle_figures(path: str | os.PathLike, against: str | os.PathLike | None = None,
                     options: PlotOptions = PlotOptions()) -> dict[str, tuple[Figure, str]]:
    """The figures of :func:`plot_particles` with their titles, by name (``options.scale`` and
    ``vmax`` apply to the histogram images; ``times`` is for grid results and refused)."""
    if options.times is not None:
        raise ValueError("--times: chooses snapshots of a grid result; a particle result is drawn at its last output")
    result = read_particles(path, allow_incomplete=True)
    grid_run = None
    if against is not None:
        if Path(against).is_dir():
            raise ValueError(f"--against {against}: is a directory, not a grid result")
        grid_run = read_result(against, allow_incomplete=True)
        if (grid_run.grid.cells, grid_run.grid.lower, grid_run.grid.upper, grid_run.grid.periodic) != (
                result.grid.cells, result.grid.lower, result.grid.upper, result.grid.periodic):
            raise ValueError(f"--against {against}: its grid differs from the particles' grid")
    done = result.outputs_done
    count = int(done.max()) if done.size else 0          # outputs reached by some replicate
    if count == 0:
        raise ResultFormatError(f"{path}: no replicate has reached an output time yet: nothing to draw")
    complete = done >= count                               # the replicates that reached all of them
    case_title = result_title(result.attrs)
    label = f"{int(complete.sum())} replicates of n = {result.attrs.get('n')}"
    if not complete.all():
        label += f" (the {int((~complete).sum())} others have not reached t = {result.times[count - 1]:.4g})"
    names = axis_names(result.attrs, result.grid.ndim)
    figures = {"observables": (_observables(result, count, complete, grid_run, names),
                               titled(case_title, f"observables, {label}")),
               "histogram": (_histogram(result, count, complete, grid_run, names, options),
                             titled(case_title, f"particle density at t = {result.times[count - 1]:.4g}, {label}"))}
    if result.positions is not None:
        figures["positions"] = (_positions(result, count, names), titled(case_title, "positions of replicate 0"))
    return figures


def _band(ax, t: np.ndarray, values: np.ndarray, colour: str, label: str) -> None:
    """Replicates (rows of ``values``) as thin lines, their mean and ± 1 s.d. band."""
    for row in values[:MAX_REPLICATE_LINES]:
        ax.plot(t, row, color=colour, alpha=0.15, linewidth=0.8)
    mean = values.mean(axis=0)
    ax.plot(t, mean, color=colour, linewidth=2, label=f"{label}: mean over replicates")
    if values.shape[0] > 1:
        spread = values.std(axis=0, ddof=1)
        ax.fill_between(t, mean - spread, mean + spread, color=colour, alpha=0.25, label="± 1 s.d.")


def _observables(result, count: int, complete: np.ndarray, grid_run, names) -> Figure:
    d = result.grid.ndim
    t = result.times[:count]
    panels = [("mass M", result.mass[complete, :count], None)]
    for a in range(d):
        panels.append((f"mean of {names[a]}", result.mean[complete, :count, a], ("mean", a)))
    for a in range(d):
        panels.append((f"variance of {names[a]}", result.covariance[complete, :count, a, a], ("variance", a)))
    panels.append(("energy E (no entropy term)", result.energy[complete, :count], "energy"))
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    reference = None if grid_run is None else _grid_curves(grid_run)
    for ax, (name, values, key) in zip(axes, panels):
        _band(ax, t, values, "C0", "particles")
        if reference is not None:
            curve = reference.get("mass" if key is None else key)
            if curve is not None:
                ax.plot(curve[0], curve[1], "k--", linewidth=1.2, label=_grid_label(grid_run, "grid run"))
        ax.set_xlabel("t")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize="small")
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    return figure


def _grid_curves(run) -> dict:
    """The grid run's mass (and energy when τ = 0) over its diagnostics times, and the mean
    and variance per axis of its snapshots."""
    grid, curves = run.grid, {}
    diagnostics = run.diagnostics
    curves["mass"] = (diagnostics["t"], diagnostics["mass"])
    tau = float(_case_tau(run))
    if tau == 0:
        curves["energy"] = (diagnostics["t"], diagnostics["energy"])
    masses = np.array([grid.integrate(mu) for mu in run.mu])
    for a, coords in enumerate(grid.mesh()):
        means = np.array([grid.integrate(coords * mu) for mu in run.mu]) / masses
        second = np.array([grid.integrate(coords ** 2 * mu) for mu in run.mu]) / masses
        curves[("mean", a)] = (run.times, means)
        curves[("variance", a)] = (run.times, second - means ** 2)
    return curves


def _case_tau(run) -> float:
    """τ of the grid run's case (NaN when its case cannot be read back: no energy curve)."""
    from ..config.case import CaseError, recorded_case
    try:
        return recorded_case(run.attrs).dynamics.tau
    except CaseError:
        return float("nan")


def _grid_label(run, text: str) -> str:
    """``text``, marked when the grid run did not finish."""
    status = run.attrs.get("status")
    return text if status == "complete" else f"{text} (grid run {status})"


def _nearest_snapshot(run, t: float) -> int:
    return int(np.argmin(np.abs(run.times - t)))


def _histogram(result, count: int, complete: np.ndarray, grid_run, names, options: PlotOptions) -> Figure:
    grid = result.grid
    t = result.times[count - 1]
    densities = result.histogram[complete, count - 1]
    if grid.ndim == 1:
        figure = Figure(figsize=(7, 4.5), layout="constrained")
        ax = figure.add_subplot()
        x = grid.axes[0]
        mean = densities.mean(axis=0)
        ax.step(x, mean, where="mid", color="C0", label="particles: mean histogram")
        if densities.shape[0] > 1:
            spread = densities.std(axis=0, ddof=1)
            ax.fill_between(x, mean - spread, mean + spread, step="mid", color="C0", alpha=0.25,
                            label="± 1 s.d. over replicates")
        if grid_run is not None:
            k = _nearest_snapshot(grid_run, t)
            ax.plot(x, grid_run.mu[k], "k--", label=_grid_label(grid_run, f"grid μ at t = {grid_run.times[k]:.4g}"))
        if options.scale == "log":
            ax.set_yscale("log", nonpositive="mask")
        if options.vmax is not None:
            ax.set_ylim(top=options.vmax)
        ax.set_xlabel(names[0])
        ax.set_ylabel("density")
        ax.legend(fontsize="small")
        return figure
    images = [("particles (mean histogram)", _first_two(densities.mean(axis=0), grid))]
    if grid_run is not None:
        k = _nearest_snapshot(grid_run, t)
        images.append((_grid_label(grid_run, f"grid μ at t = {grid_run.times[k]:.4g}"), _first_two(grid_run.mu[k], grid)))
    figure = Figure(figsize=(4.6 * len(images) + 1.0, 4.0), layout="constrained")
    axes = figure.subplots(1, len(images), squeeze=False).ravel()
    norm = density_norm([image for _, image in images], options)
    for ax, (name, image) in zip(axes, images):
        shown = density_image(ax, grid, image, 0, 1, norm, DENSITY_CMAP, names)
        ax.set_title(name + (f" (projected on {names[0]}, {names[1]})" if grid.ndim == 3 else ""))
    figure.colorbar(shown, ax=list(axes), label="density")
    return figure


def _first_two(density: np.ndarray, grid) -> np.ndarray:
    """A 2-D density, or a 3-D one integrated over its last axis."""
    return density if grid.ndim == 2 else density.sum(axis=2) * grid.spacing[2]


def _positions(result, count: int, names) -> Figure:
    grid = result.grid
    first, last = result.positions[0, 0], result.positions[0, count - 1]
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, points, t in zip(axes, (first, last), (result.times[0], result.times[count - 1])):
        if grid.ndim == 1:
            ax.hist(points[:, 0], bins=min(100, grid.cells[0]), range=(grid.lower[0], grid.upper[0]), color="C0")
            ax.set_ylabel("particles")
        else:
            ax.plot(points[:, 0], points[:, 1], ".", markersize=2, alpha=0.5)
            ax.set_xlim(grid.lower[0], grid.upper[0])
            ax.set_ylim(grid.lower[1], grid.upper[1])
            ax.set_ylabel(names[1])
        ax.set_xlabel(names[0])
        ax.set_title(f"t = {t:.4g}, n = {points.shape[0]}")
    return figure
