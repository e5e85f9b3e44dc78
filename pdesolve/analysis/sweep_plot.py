"""Figures of a sweep folder: each scalar of its ``sweep.nc`` against the swept parameters.

One figure per scalar (PNG unless ``--format`` says otherwise).  With one parameter: the scalar against it, one point per replicate
and, with several replicates, their mean and a band of ± one sample standard deviation
(or the error bars of a ``NAME_se`` column).  With two: one such line per value of the
parameter with fewer values, or, when both have more than ``MAX_LINES``, a heat map (the
mean over replicates).  With none (replicates only): the scalar per replicate (or per task).  A parameter with one
value only is not an axis.  Only complete
tasks are drawn; the title says how many were not.  A numeric axis is logarithmic when
its values are positive and span a factor of 10 or more.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..sweep.table import TABLE_NAME, read_table
from .figures import PlotOptions, save

AUXILIARY = re.compile(r".*_(se|low|high)$")
LOG_SPAN = 10.0
MAX_LINES = 8     # a second parameter with more values than this is drawn as a heat map


def plot_sweep(folder: str | os.PathLike, outdir: str | os.PathLike,
               options: PlotOptions = PlotOptions()) -> list[Path]:
    """Write one ``SCALAR.FORMAT`` per scalar of ``folder/sweep.nc`` into ``outdir`` (of the
    options only the format and dpi apply)."""
    if options != PlotOptions(format=options.format, dpi=options.dpi):
        raise ValueError("--times, --scale, --vmax: apply to density figures, not to a sweep's scalars")
    figures = sweep_figures(folder)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    return [save(figure, title, outdir, name, options) for name, (figure, title) in figures.items()]


def sweep_figures(folder: str | os.PathLike) -> dict[str, tuple[Figure, str]]:
    """The figure of each scalar of ``folder/sweep.nc`` and its title (ValueError when more
    than two parameters vary)."""
    table = read_table(Path(folder) / TABLE_NAME)
    parameters = {key: values for key, values in table.parameters.items() if np.unique(values).size > 1}
    if len(parameters) > 2:
        raise ValueError(f"{folder}: plot draws one or two swept parameters, this sweep varies "
                         f"{len(parameters)} ({', '.join(parameters)}); open {TABLE_NAME} with xarray")
    tasks = table.text["status"].size
    fallback = ("replicate", table.replicate) if table.replicate is not None else ("task", np.arange(tasks))
    complete = table.text["status"] == "complete"
    missing = int((~complete).sum())
    note = f" ({missing} of {complete.size} tasks not complete)" if missing else ""
    keys = list(parameters)
    if len(keys) == 2 and np.unique(parameters[keys[0]]).size < np.unique(parameters[keys[1]]).size:
        keys.reverse()       # the parameter with fewer values makes the family of lines
    figures = {}
    for name, values in table.scalars.items():
        if AUXILIARY.fullmatch(name) or not np.isfinite(values[complete]).any():
            continue
        figure = Figure(figsize=(6.4, 4.8), layout="constrained")
        axes = figure.add_subplot()
        x = parameters[keys[0]][complete] if keys else fallback[1][complete]
        y = values[complete]
        errors = table.scalars.get(f"{name}_se")
        errors = None if errors is None else errors[complete]
        family = parameters[keys[1]][complete] if len(keys) == 2 else None
        if family is not None and np.unique(family).size > MAX_LINES:
            _heat_map(figure, axes, x, family, y, keys, name)
        else:
            levels = [None] if family is None else list(dict.fromkeys(family.tolist()))
            for colour, level in enumerate(levels):
                chosen = np.ones(y.size, bool) if level is None else family == level
                _lines(axes, x[chosen], y[chosen], None if errors is None else errors[chosen],
                       f"C{colour % 10}", None if level is None else f"{keys[1]} = {level}")
            _label(axes, x, y, keys[0] if keys else fallback[0], name)
        figures[name] = (figure, f"{table.title}: {name}{note}")
    return figures


def _positions(values: np.ndarray) -> tuple[np.ndarray, list[str] | None]:
    """Axis positions of parameter values: the numbers themselves, or 0, 1, … for text
    values, with their labels."""
    if values.dtype.kind in "iuf":
        return values.astype(float), None
    labels = list(dict.fromkeys(values.tolist()))
    return np.asarray([labels.index(v) for v in values], dtype=float), labels


def _spans_decades(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return finite.size > 0 and finite.min() > 0 and finite.max() / finite.min() >= LOG_SPAN


def _lines(axes, x: np.ndarray, y: np.ndarray, errors: np.ndarray | None, colour: str,
           label: str | None) -> None:
    """One line: y against x; with replicates (repeated x) their points, mean and ± 1 s.d. band."""
    position, _ = _positions(x)
    levels = np.unique(position)
    if levels.size < position.size:
        axes.plot(position, y, "o", color=colour, alpha=0.35, markersize=3)
        groups = [y[position == level] for level in levels]
        mean = np.asarray([g.mean() for g in groups])
        spread = np.asarray([g.std(ddof=1) if g.size > 1 else 0.0 for g in groups])
        axes.plot(levels, mean, "-", color=colour,
                  label=f"{label + ': ' if label else ''}mean ± 1 s.d. over replicates")
        axes.fill_between(levels, mean - spread, mean + spread, color=colour, alpha=0.2)
    else:
        order = np.argsort(position, kind="stable")
        axes.plot(position[order], y[order], "o-", color=colour, markersize=4, label=label)
        if errors is not None and np.isfinite(errors).any():
            axes.errorbar(position, y, yerr=errors, fmt="none", ecolor=colour, capsize=3)
    if axes.get_legend_handles_labels()[1]:
        axes.legend()


def _label(axes, x: np.ndarray, y: np.ndarray, xname: str, yname: str) -> None:
    """Axis names, text ticks, and log scales for values spanning LOG_SPAN or more."""
    position, labels = _positions(x)
    if labels is not None:
        axes.set_xticks(range(len(labels)), labels)
    elif _spans_decades(position):
        axes.set_xscale("log")
    if _spans_decades(y):
        axes.set_yscale("log")
    axes.set_xlabel(xname)
    axes.set_ylabel(yname)
    axes.grid(True, alpha=0.3)


def _heat_map(figure: Figure, axes, first: np.ndarray, second: np.ndarray, values: np.ndarray,
              keys: list[str], name: str) -> None:
    xs, xlabels = _positions(first)
    ys, ylabels = _positions(second)
    xlevels, ylevels = np.unique(xs), np.unique(ys)
    grid = np.full((ylevels.size, xlevels.size), np.nan)
    for i, y in enumerate(ylevels):
        for j, x in enumerate(xlevels):
            chosen = values[(xs == x) & (ys == y)]
            if chosen.size:
                grid[i, j] = np.nanmean(chosen)
    image = axes.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    axes.set_xticks(range(xlevels.size), xlabels or [f"{v:.4g}" for v in xlevels])
    axes.set_yticks(range(ylevels.size), ylabels or [f"{v:.4g}" for v in ylevels])
    axes.set_xlabel(keys[0])
    axes.set_ylabel(keys[1])
    figure.colorbar(image, ax=axes, label=name)
