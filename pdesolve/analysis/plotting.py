"""Figures of a result file: density snapshots, diagnostics and the final potential.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas directly, so no
pyplot state is created or shared between calls. Only the snapshots a figure shows
are read from the file.
"""
from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ..model.grid import AXIS_NAMES, Grid
from ..io.atomic import STATUS_COMPLETE
from ..io.grid_result import open_result, read_attrs, read_diagnostics, read_grid, snapshot_count

MAX_2D_PANELS = 6
DENSITY_CMAP = "viridis"
POTENTIAL_CMAP = "coolwarm"
DPI = 110
LOG_RANGE = 100.0       # panels whose peaks differ by more than this share a log colour scale
LOG_DECADES = 4         # decades shown below the peak on a log scale
MAX_ASPECT = 4.0
TITLE_CHARACTERS_PER_INCH = 11   # of the default 12 pt title font


def plot_result(path: str | os.PathLike, outdir: str | os.PathLike, *,
                allow_incomplete: bool = False) -> list[Path]:
    """Write snapshots.png, diagnostics.png and potential.png for a result file.

    A figure is skipped when its data are absent (no snapshots, no diagnostics of the
    kinds plotted, potential not saved). With ``allow_incomplete``, the result of a run that
    did not finish (interrupted, failed, or a running or killed run's partial file, opened
    read-only in SWMR mode) is plotted as far as it got, its titles saying so.  Returns the
    paths written.
    """
    outdir = Path(outdir)
    written = []
    with open_result(path, allow_incomplete=allow_incomplete) as f:
        outdir.mkdir(parents=True, exist_ok=True)  # only once the file is known to be a result
        grid = read_grid(f)
        title = result_title(read_attrs(f))
        n = snapshot_count(f)
        times = f["snapshots/time"][:n]
        if n > 0:
            figure = _snapshots_figure(grid, times, f["snapshots/mu"])
            written.append(_save(figure, _title(title, "density μ"), outdir / "snapshots.png"))
            if "V" in f["snapshots"]:
                figure = _potential_figure(grid, f["snapshots/V"][n - 1])
                written.append(_save(figure, _title(title, f"potential V at t = {times[-1]:.4g}"),
                                     outdir / "potential.png"))
        figure = _diagnostics_figure(read_diagnostics(f))
        if figure is not None:
            written.append(_save(figure, _title(title, "diagnostics"), outdir / "diagnostics.png"))
    return written


def result_title(attrs: dict) -> str | None:
    """The case title of a result's root attributes, marked when the run did not finish."""
    title = attrs.get("title")
    if attrs.get("status") == STATUS_COMPLETE:
        return title
    return f"{title or ''} [INCOMPLETE: status {attrs.get('status')!r}]".strip()


def _title(case_title: str | None, what: str) -> str:
    return f"{case_title}: {what}" if case_title else what


def _save(figure: Figure, title: str, path: Path) -> Path:
    """Title ``figure`` (wrapped to its width: about TITLE_CHARACTERS_PER_INCH per inch) and
    write it to ``path``."""
    width = max(30, int(figure.get_figwidth() * TITLE_CHARACTERS_PER_INCH))
    figure.suptitle(textwrap.fill(title, width))
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=DPI)
    return path


def evenly_chosen(n: int, k: int) -> list[int]:
    """At most k distinct indices of range(n), evenly spaced, first and last included."""
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, min(n, k)))})


def _norm(arrays: Sequence[np.ndarray]) -> Normalize:
    """Colour scale spanning the finite values of all arrays."""
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate([v.ravel() for v in finite]) if finite else np.zeros(0)
    if values.size == 0:
        return Normalize(0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + max(abs(low), 1.0) * 1e-6
    return Normalize(low, high)


def density_norm(arrays: Sequence[np.ndarray]) -> Normalize:
    """The colour scale of densities shown together: linear from 0, unless one panel's peak is
    more than LOG_RANGE times another's (a shared linear scale would leave that one blank);
    then logarithmic over LOG_DECADES decades below the highest peak."""
    peaks = [float(np.max(a[np.isfinite(a)])) for a in arrays if np.isfinite(a).any()]
    high = max(peaks, default=0.0)
    if high <= 0:
        return Normalize(0.0, 1.0)
    low = min(peak for peak in peaks if peak > 0) if any(peak > 0 for peak in peaks) else high
    if high / low <= LOG_RANGE:
        return Normalize(0.0, high)
    return LogNorm(high * 10.0 ** -LOG_DECADES, high, clip=True)


def _image(ax: Axes, grid: Grid, image: np.ndarray, horizontal: int, vertical: int,
           norm: Normalize, cmap: str):
    """Show a 2-D array indexed [horizontal axis, vertical axis] over the grid's extent, with
    equal scales on both axes unless the box is more than MAX_ASPECT times longer one way."""
    extent = (grid.lower[horizontal], grid.upper[horizontal], grid.lower[vertical], grid.upper[vertical])
    ratio = (extent[3] - extent[2]) / (extent[1] - extent[0])
    aspect = "equal" if 1 / MAX_ASPECT <= ratio <= MAX_ASPECT else "auto"
    im = ax.imshow(image.T, origin="lower", extent=extent, aspect=aspect, norm=norm, cmap=cmap,
                   interpolation="nearest")
    ax.set_xlabel(AXIS_NAMES[horizontal])
    ax.set_ylabel(AXIS_NAMES[vertical])
    return im


def _mid_slices(grid: Grid, values: np.ndarray) -> list[tuple[np.ndarray, int, int, str]]:
    """The xy, xz and yz mid-planes of a 3-D array: (image, horizontal, vertical, label)."""
    middle = [c // 2 for c in grid.cells]
    planes = []
    for fixed, (h, v) in ((2, (0, 1)), (1, (0, 2)), (0, (1, 2))):
        index = [slice(None)] * 3
        index[fixed] = middle[fixed]
        label = f"{AXIS_NAMES[fixed]} = {grid.axes[fixed][middle[fixed]]:.3g}"
        planes.append((values[tuple(index)], h, v, label))
    return planes


def _snapshots_figure(grid: Grid, times: np.ndarray, mu: h5py.Dataset) -> Figure:
    if grid.ndim == 1:
        return _snapshots_1d(grid, times, mu[: len(times)])
    if grid.ndim == 2:
        chosen = evenly_chosen(len(times), MAX_2D_PANELS)
        return _snapshots_2d(grid, times[chosen], mu[chosen])
    chosen = evenly_chosen(len(times), 2)
    return _snapshots_3d(grid, times[chosen], mu[chosen])


def _snapshots_1d(grid: Grid, times: np.ndarray, mu: np.ndarray) -> Figure:
    """μ(x) at every snapshot, coloured by t."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.add_subplot()
    x = grid.axes[0]
    lines = LineCollection([np.column_stack([x, m]) for m in mu], cmap=DENSITY_CMAP,
                           norm=_norm([times]))
    lines.set_array(times)
    ax.add_collection(lines)
    ax.set_xlim(grid.lower[0], grid.upper[0])
    ax.set_ylim(*_padded_limits(mu))
    ax.set_xlabel(AXIS_NAMES[0])
    ax.set_ylabel("μ")
    figure.colorbar(lines, ax=ax, label="t")
    return figure


def _padded_limits(values: np.ndarray) -> tuple[float, float]:
    norm = _norm([values])
    pad = 0.05 * (norm.vmax - norm.vmin)
    return norm.vmin - pad, norm.vmax + pad


def _snapshots_2d(grid: Grid, times: np.ndarray, mu: np.ndarray) -> Figure:
    """Images of up to MAX_2D_PANELS snapshots on one colour scale."""
    count = len(times)
    ncols = min(count, 3)
    nrows = -(-count // ncols)
    figure = Figure(figsize=(3.6 * ncols + 1.0, 3.2 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    norm = density_norm(list(mu))
    for ax, t, m in zip(axes, times, mu):
        im = _image(ax, grid, m, 0, 1, norm, DENSITY_CMAP)
        ax.set_title(f"t = {t:.4g}")
    for ax in axes[count:]:
        ax.set_axis_off()
    figure.colorbar(im, ax=list(axes), label="μ")
    return figure


def _snapshots_3d(grid: Grid, times: np.ndarray, mu: np.ndarray) -> Figure:
    """Mid-plane slices (xy, xz, yz) of the first and last snapshot on one colour scale."""
    slices = [_mid_slices(grid, m) for m in mu]
    norm = density_norm([image for row in slices for image, *_ in row])
    figure = Figure(figsize=(11.5, 3.3 * len(times)), layout="constrained")
    axes = figure.subplots(len(times), 3, squeeze=False)
    for row, t, planes in zip(axes, times, slices):
        for ax, (image, h, v, label) in zip(row, planes):
            im = _image(ax, grid, image, h, v, norm, DENSITY_CMAP)
            ax.set_title(f"t = {t:.4g}, {label}")
    figure.colorbar(im, ax=list(axes.ravel()), label="μ")
    return figure


def _potential_figure(grid: Grid, V: np.ndarray) -> Figure:
    """The potential: a line in 1-D, an image in 2-D, mid-plane slices in 3-D."""
    if grid.ndim == 1:
        figure = Figure(figsize=(7, 4), layout="constrained")
        ax = figure.add_subplot()
        ax.plot(grid.axes[0], V)
        ax.set_xlabel(AXIS_NAMES[0])
        ax.set_ylabel("V")
        return figure
    if grid.ndim == 2:
        figure = Figure(figsize=(6, 4.5), layout="constrained")
        ax = figure.add_subplot()
        im = _image(ax, grid, V, 0, 1, _norm([V]), POTENTIAL_CMAP)
        figure.colorbar(im, ax=ax, label="V")
        return figure
    planes = _mid_slices(grid, V)
    figure = Figure(figsize=(11.5, 3.5), layout="constrained")
    axes = figure.subplots(1, 3)
    norm = _norm([image for image, *_ in planes])
    for ax, (image, h, v, label) in zip(axes, planes):
        im = _image(ax, grid, image, h, v, norm, POTENTIAL_CMAP)
        ax.set_title(label)
    figure.colorbar(im, ax=list(axes), label="V")
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
