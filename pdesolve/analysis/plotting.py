"""Figures of a grid result file: density snapshots, 3-D marginals, diagnostics, the final
potential, and the error against the exact solution where the case has one.

Only the snapshots a figure shows are read from the file (all of them for the error
against the exact solution).  Shared pieces (options, colour scales, saving) are in
:mod:`pdesolve.analysis.figures`.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ..config.case import CaseError, recorded_case
from ..io.grid_result import open_result, read_attrs, read_diagnostics, read_grid, snapshot_count
from ..model.grid import Grid
from .exact import GaussianFlow, exact_flow_of_case
from .figures import (DENSITY_CMAP, POTENTIAL_CMAP, PlotOptions, axis_names, chosen_times, density_axis,
                      density_image, density_norm, result_title, save, titled, value_norm)

MAX_2D_PANELS = 6       # snapshots shown by default in 2-D
MAX_3D_ROWS = 3         # ... and in 3-D (one row of three slices each)
MAX_PANELS = 12         # the most --times may ask for in 2-D and 3-D


def plot_result(path: str | os.PathLike, outdir: str | os.PathLike, *, allow_incomplete: bool = False,
                options: PlotOptions = PlotOptions()) -> list[Path]:
    """Write the figures of :func:`result_figures` for a result file into ``outdir``, as
    NAME.FORMAT; return the paths written."""
    figures = result_figures(path, allow_incomplete=allow_incomplete, options=options)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)  # only once the file is known to be a result
    return [save(figure, title, outdir, name, options) for name, (figure, title) in figures.items()]


def result_figures(path: str | os.PathLike, *, allow_incomplete: bool = False,
                   options: PlotOptions = PlotOptions()) -> dict[str, tuple[Figure, str]]:
    """{name: (figure, title)} of a result file: ``snapshots`` (μ at the chosen times; 3-D:
    slices through the centre of mass), ``marginals`` (3-D: the three 2-D marginals),
    ``potential`` (V at the last snapshot, when saved), ``diagnostics`` (energy, mass drift,
    dissipation, loss against t) and ``exact`` (the L¹ error against the case's exact
    solution, when it has one; 1-D snapshots then show the exact solution dashed).

    A figure is left out when its data are absent.  With ``allow_incomplete``, the result of
    a run that did not finish (interrupted, failed, or a running or killed run's partial
    file, opened read-only in SWMR mode) is drawn as far as it got, its titles saying so.
    ValueError when ``options.times`` asks for times the file does not hold.
    """
    figures = {}
    with open_result(path, allow_incomplete=allow_incomplete) as f:
        grid = read_grid(f)
        attrs = read_attrs(f)
        title = result_title(attrs)
        names = axis_names(attrs, grid.ndim)
        flow = exact_flow_of_result(attrs)
        n = snapshot_count(f)
        times = f["snapshots/time"][:n]
        if n > 0:
            default = {1: None, 2: MAX_2D_PANELS, 3: MAX_3D_ROWS}[grid.ndim]
            chosen = chosen_times(times, options.times, default, str(path), MAX_PANELS if grid.ndim > 1 else None)
            mu = f["snapshots/mu"][chosen]
            shown = times[chosen]
            figures["snapshots"] = (_snapshots_figure(grid, shown, mu, names, options, flow),
                                    titled(title, "density μ"))
            if grid.ndim == 3:
                figures["marginals"] = (_marginals_figure(grid, shown, mu, names, options),
                                        titled(title, "marginal densities of μ"))
            if "V" in f["snapshots"]:
                figures["potential"] = (_potential_figure(grid, f["snapshots/V"][n - 1], names),
                                        titled(title, f"potential V at t = {times[-1]:.4g}"))
        diagnostics = _diagnostics_figure(read_diagnostics(f))
        if diagnostics is not None:
            figures["diagnostics"] = (diagnostics, titled(title, "diagnostics"))
        if flow is not None and n > 0:
            figures["exact"] = (_exact_error_figure(grid, times, f["snapshots/mu"], flow),
                                titled(title, "relative L¹ distance to the exact solution"))
    return figures


def exact_flow_of_result(attrs: dict) -> GaussianFlow | None:
    """The exact solution of the case the file records, if it has one."""
    try:
        return exact_flow_of_case(recorded_case(attrs))
    except CaseError:
        return None


PLANES = ((2, (0, 1)), (1, (0, 2)), (0, (1, 2)))   # (fixed axis, (horizontal, vertical)): xy, xz, yz


def planes_through(grid: Grid, values: np.ndarray, index: Sequence[int], names: Sequence[str]
                   ) -> list[tuple[np.ndarray, int, int, str]]:
    """The three axis-parallel planes of a 3-D array through the cell ``index``:
    (image, horizontal, vertical, label)."""
    planes = []
    for fixed, (h, v) in PLANES:
        cut = [slice(None)] * 3
        cut[fixed] = index[fixed]
        planes.append((values[tuple(cut)], h, v, f"{names[fixed]} = {grid.axes[fixed][index[fixed]]:.3g}"))
    return planes


def centre_of_mass_slices(grid: Grid, values: np.ndarray, names: Sequence[str]
                          ) -> list[tuple[np.ndarray, int, int, str]]:
    """:func:`planes_through` the cell nearest the centre of mass of a 3-D array (the box
    centre when it has no mass)."""
    total = float(values.sum())
    index = []
    for a, axis in enumerate(grid.axes):
        other = tuple(b for b in range(3) if b != a)
        centre = float(values.sum(axis=other) @ axis) / total if total > 0 else 0.5 * (axis[0] + axis[-1])
        index.append(int(np.argmin(np.abs(axis - centre))))
    return planes_through(grid, values, index, names)


def marginals(grid: Grid, values: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
    """The 2-D marginals ∫ μ d(one axis) of a 3-D array: (image, horizontal, vertical)."""
    return [(values.sum(axis=fixed) * grid.spacing[fixed], h, v) for fixed, (h, v) in PLANES]


def _snapshots_figure(grid: Grid, times: np.ndarray, mu: np.ndarray, names: Sequence[str],
                      options: PlotOptions, flow: GaussianFlow | None) -> Figure:
    if grid.ndim == 1:
        return _snapshots_1d(grid, times, mu, names, options, flow)
    if grid.ndim == 2:
        return _snapshots_2d(grid, times, mu, names, options)
    return _panel_rows(grid, times, [centre_of_mass_slices(grid, m, names) for m in mu], names, options, "μ")


def _snapshots_1d(grid: Grid, times: np.ndarray, mu: np.ndarray, names: Sequence[str],
                  options: PlotOptions, flow: GaussianFlow | None) -> Figure:
    """μ(x) at every chosen snapshot, coloured by t; the exact solution dashed when known."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.add_subplot()
    x = grid.axes[0]
    lines = LineCollection([np.column_stack([x, m]) for m in mu], cmap=DENSITY_CMAP,
                           norm=value_norm([times]), label="pdesolve")
    lines.set_array(times)
    ax.add_collection(lines)
    if flow is not None:
        for k, t in enumerate(times):
            ax.plot(x, flow.state(float(t)).density(grid), color="black", linestyle="--", linewidth=0.8,
                    label="exact" if k == 0 else None)
        ax.legend(loc="upper right")
    ax.set_xlim(grid.lower[0], grid.upper[0])
    norm = density_norm(list(mu), options)
    density_axis(ax, norm, min(0.0, float(np.min(mu))))
    ax.set_xlabel(names[0])
    ax.set_ylabel("μ")
    figure.colorbar(lines, ax=ax, label="t")
    return figure


def _snapshots_2d(grid: Grid, times: np.ndarray, mu: np.ndarray, names: Sequence[str],
                  options: PlotOptions) -> Figure:
    """Images of the chosen snapshots on one colour scale."""
    count = len(times)
    ncols = min(count, 3)
    nrows = -(-count // ncols)
    figure = Figure(figsize=(3.6 * ncols + 1.0, 3.2 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    norm = density_norm(list(mu), options)
    for ax, t, m in zip(axes, times, mu):
        im = density_image(ax, grid, m, 0, 1, norm, DENSITY_CMAP, names)
        ax.set_title(f"t = {t:.4g}")
    for ax in axes[count:]:
        ax.set_axis_off()
    figure.colorbar(im, ax=list(axes), label="μ")
    return figure


def _panel_rows(grid: Grid, times: np.ndarray, rows: list[list[tuple]], names: Sequence[str],
                options: PlotOptions, label: str) -> Figure:
    """One row of three images per time (slices or marginals of a 3-D density), on one scale."""
    norm = density_norm([panel[0] for row in rows for panel in row], options)
    figure = Figure(figsize=(11.5, 3.3 * len(times)), layout="constrained")
    axes = figure.subplots(len(times), 3, squeeze=False)
    for row_axes, t, panels in zip(axes, times, rows):
        for ax, (image, h, v, *where) in zip(row_axes, panels):
            im = density_image(ax, grid, image, h, v, norm, DENSITY_CMAP, names)
            ax.set_title(", ".join((f"t = {t:.4g}", *where)))
    figure.colorbar(im, ax=list(axes.ravel()), label=label)
    return figure


def _marginals_figure(grid: Grid, times: np.ndarray, mu: np.ndarray, names: Sequence[str],
                      options: PlotOptions) -> Figure:
    rows = [[(image, h, v, f"∫ d{names[3 - h - v]}") for image, h, v in marginals(grid, m)] for m in mu]
    return _panel_rows(grid, times, rows, names, options, "marginal density")


def _potential_figure(grid: Grid, V: np.ndarray, names: Sequence[str]) -> Figure:
    """The potential: a line in 1-D, an image in 2-D, slices through the box centre in 3-D."""
    if grid.ndim == 1:
        figure = Figure(figsize=(7, 4), layout="constrained")
        ax = figure.add_subplot()
        ax.plot(grid.axes[0], V)
        ax.set_xlabel(names[0])
        ax.set_ylabel("V")
        return figure
    if grid.ndim == 2:
        figure = Figure(figsize=(6, 4.5), layout="constrained")
        ax = figure.add_subplot()
        im = density_image(ax, grid, V, 0, 1, value_norm([V]), POTENTIAL_CMAP, names)
        figure.colorbar(im, ax=ax, label="V")
        return figure
    planes = planes_through(grid, V, [c // 2 for c in grid.cells], names)
    figure = Figure(figsize=(11.5, 3.5), layout="constrained")
    axes = figure.subplots(1, 3)
    norm = value_norm([image for image, *_ in planes])
    for ax, (image, h, v, label) in zip(axes, planes):
        im = density_image(ax, grid, image, h, v, norm, POTENTIAL_CMAP, names)
        ax.set_title(label)
    figure.colorbar(im, ax=list(axes), label="V")
    return figure


def _exact_error_figure(grid: Grid, times: np.ndarray, mu: h5py.Dataset, flow: GaussianFlow) -> Figure:
    """‖μ(t) − μ_exact(t)‖_L¹ / M(t) at every snapshot, on a log axis whose bottom is a decade
    below the smallest error after t₀ (at t₀ the error is that of sampling μ₀: round-off)."""
    errors = np.array([grid.integrate(np.abs(mu[i] - flow.state(float(t)).density(grid))) / flow.mass(float(t))
                       for i, t in enumerate(times)])
    figure = Figure(figsize=(7, 3.6), layout="constrained")
    ax = figure.add_subplot()
    ax.plot(times, errors, marker="o", markersize=3)
    later = errors[1:][errors[1:] > 0]
    if later.size:
        ax.set_yscale("log", nonpositive="mask")
        ax.set_ylim(bottom=float(later.min()) / 10)
    ax.set_xlabel("t")
    ax.set_ylabel("‖μ − μ_exact‖₁ / M")
    ax.grid(True, alpha=0.3)
    return figure


def _diagnostics_figure(diagnostics: dict[str, np.ndarray]) -> Figure | None:
    """Energy, relative mass drift, dissipation rate and loss (log axis) against time.

    Panels whose column is missing are left out; None when none is present.
    """
    if "t" in diagnostics:
        time, time_label = diagnostics["t"], "t"
    elif "step" in diagnostics:
        time, time_label = diagnostics["step"], "step"
    else:
        length = len(next(iter(diagnostics.values()), []))
        time, time_label = np.arange(length), "row"
    panels = []
    if "energy" in diagnostics:
        panels.append((diagnostics["energy"], "energy E", False))
    if "mass" in diagnostics:
        mass = diagnostics["mass"]
        drift = (mass - mass[0]) / mass[0] if mass.size and mass[0] != 0 else mass - mass[:1]
        panels.append((drift, "(M − M₀) / M₀", False))
    if "dissipation" in diagnostics:
        panels.append((diagnostics["dissipation"], "dissipation rate", False))
    if "loss" in diagnostics:
        loss = diagnostics["loss"]
        panels.append((loss, "loss", bool(np.any(loss > 0))))
    if not panels:
        return None
    figure = Figure(figsize=(7, 2.3 * len(panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (values, label, log) in zip(axes, panels):
        ax.plot(time, values)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log", nonpositive="mask")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel(time_label)
    return figure
