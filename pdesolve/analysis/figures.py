"""What every pdesolve figure shares: the plot options (:mod:`.plot_options`), colour scales, density images, axis
names, titles and saving.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas directly, so no pyplot
state is created or shared between calls.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from ..io.atomic import STATUS_COMPLETE
from ..model.grid import AXIS_NAMES, Grid
from .plot_options import PlotOptions

DENSITY_CMAP = "viridis"
POTENTIAL_CMAP = "coolwarm"
LOG_RANGE = 100.0       # panels whose peaks differ by more than this share a log colour scale
LOG_DECADES = 4         # decades shown below the peak on a log scale
MAX_ASPECT = 4.0
TITLE_CHARACTERS_PER_INCH = 11   # of the default 12 pt title font
NEURON_AXIS_NAMES = {2: ("z", "c"), 3: ("z₁", "z₂", "c")}


def result_title(attrs: Mapping[str, Any]) -> str | None:
    """The case title of a result's root attributes, marked when the run did not finish."""
    title = attrs.get("title")
    if attrs.get("status") == STATUS_COMPLETE:
        return title
    return f"{title or ''} [INCOMPLETE: status {attrs.get('status')!r}]".strip()


def titled(case_title: str | None, what: str) -> str:
    return f"{case_title}: {what}" if case_title else what


def save(figure: Figure, title: str, outdir: Path, name: str, options: PlotOptions) -> Path:
    """Title ``figure`` (wrapped to its width: about TITLE_CHARACTERS_PER_INCH per inch) and
    write it to ``outdir/name.FORMAT``."""
    width = max(30, int(figure.get_figwidth() * TITLE_CHARACTERS_PER_INCH))
    figure.suptitle(textwrap.fill(title, width))
    FigureCanvasAgg(figure)
    path = outdir / f"{name}.{options.format}"
    figure.savefig(path, dpi=options.dpi, format=options.format)
    return path


def axis_names(attrs: Mapping[str, Any], ndim: int) -> tuple[str, ...]:
    """The names of a result's axes: z (z₁, z₂) and c for a neuron-form case (the hidden
    weights first, the output weight c last), else x, y, z.  Read from the case the file
    records (its text and --set overrides); x, y, z when it cannot be read."""
    from ..config.case import CaseError, recorded_case
    try:
        kind = recorded_case(attrs).interaction.kind
    except CaseError:
        kind = None
    if kind == "neuron" and ndim in NEURON_AXIS_NAMES:
        return NEURON_AXIS_NAMES[ndim]
    return AXIS_NAMES[:ndim]


def evenly_chosen(n: int, k: int) -> list[int]:
    """At most k distinct indices of range(n), evenly spaced, first and last included."""
    return sorted({int(i) for i in np.rint(np.linspace(0, n - 1, min(n, k)))})


def chosen_times(times: np.ndarray, requested: Sequence[float] | None, default_count: int | None,
                 source: str, limit: int | None = None) -> list[int]:
    """Indices of the stored ``times`` to show: the nearest to each ``requested`` time (each
    must lie within the stored range; at most ``limit`` of them), else ``default_count``
    evenly chosen (None: all).  ValueError naming ``--times`` and ``source`` otherwise."""
    n = len(times)
    if requested is None:
        return list(range(n)) if default_count is None else evenly_chosen(n, default_count)
    first, last = float(times[0]), float(times[-1])
    slack = 1e-9 * max(1.0, abs(last))
    for t in requested:
        if not first - slack <= t <= last + slack:
            raise ValueError(f"--times: {t:g} is outside the snapshots of {source} (t = {first:g} ... {last:g})")
    chosen = sorted({int(np.argmin(np.abs(times - t))) for t in requested})
    if limit is not None and len(chosen) > limit:
        raise ValueError(f"--times: {len(chosen)} snapshots are too many for one figure (allowed: at most {limit})")
    return chosen


def value_norm(arrays: Sequence[np.ndarray]) -> Normalize:
    """Linear colour scale spanning the finite values of all arrays."""
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate([v.ravel() for v in finite]) if finite else np.zeros(0)
    if values.size == 0:
        return Normalize(0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + max(abs(low), 1.0) * 1e-6
    return Normalize(low, high)


def density_norm(arrays: Sequence[np.ndarray], options: PlotOptions = PlotOptions()) -> Normalize:
    """The colour scale of densities shown together, from 0 (linear) or LOG_DECADES decades
    below the top (log) to ``options.vmax`` or the highest peak.  With scale "auto" it is
    linear unless one panel's peak is more than LOG_RANGE times another's (a shared linear
    scale would leave that one blank)."""
    peaks = [float(np.max(a[np.isfinite(a)])) for a in arrays if np.isfinite(a).any()]
    high = max(peaks, default=0.0)
    top = options.vmax if options.vmax is not None else high
    if top <= 0:
        return Normalize(0.0, 1.0)
    log = options.scale == "log"
    if options.scale == "auto":
        low = min((peak for peak in peaks if peak > 0), default=high)
        log = high / low > LOG_RANGE
    if not log:
        return Normalize(0.0, top, clip=True)
    return LogNorm(top * 10.0 ** -LOG_DECADES, top, clip=True)


def density_axis(ax: Axes, norm: Normalize, low: float = 0.0) -> None:
    """The vertical axis of 1-D densities on the scale ``norm``: logarithmic from its bottom,
    or linear from ``low``, with a little room above the top."""
    if isinstance(norm, LogNorm):
        ax.set_yscale("log")
        ax.set_ylim(norm.vmin, norm.vmax * 1.5)
    else:
        ax.set_ylim(low, norm.vmax * 1.05)


def density_image(ax: Axes, grid: Grid, image: np.ndarray, horizontal: int, vertical: int,
                  norm: Normalize, cmap: str, names: Sequence[str] = AXIS_NAMES):
    """Show a 2-D array indexed [horizontal axis, vertical axis] over the grid's extent, with
    equal scales on both axes unless the box is more than MAX_ASPECT times longer one way;
    the axes are labelled with ``names``."""
    extent = (grid.lower[horizontal], grid.upper[horizontal], grid.lower[vertical], grid.upper[vertical])
    ratio = (extent[3] - extent[2]) / (extent[1] - extent[0])
    aspect = "equal" if 1 / MAX_ASPECT <= ratio <= MAX_ASPECT else "auto"
    im = ax.imshow(image.T, origin="lower", extent=extent, aspect=aspect, norm=norm, cmap=cmap,
                   interpolation="nearest")
    ax.set_xlabel(names[horizontal])
    ax.set_ylabel(names[vertical])
    return im
