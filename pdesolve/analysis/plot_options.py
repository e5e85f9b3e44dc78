"""The options every pdesolve figure is drawn with (``plot``'s --times, --scale, --vmax,
--format, --dpi), apart from the drawing code so that the command line checks them before
it imports Matplotlib."""
from __future__ import annotations

import math
from dataclasses import dataclass

SCALES = ("auto", "linear", "log")
FORMATS = ("png", "pdf", "svg")
DPI_RANGE = (20, 1200)


@dataclass(frozen=True)
class PlotOptions:
    """How figures are drawn and written.

    ``times``: the snapshot times to show (the nearest stored one each; None: chosen evenly);
    ``scale``: of density values, "auto" (linear, or log when panels' peaks differ by more
    than LOG_RANGE), "linear" or "log" (LOG_DECADES decades below the top); ``vmax``: the top
    of the density scale (None: the highest value shown); ``format``, ``dpi``: of the files.
    """

    times: tuple[float, ...] | None = None
    scale: str = "auto"
    vmax: float | None = None
    format: str = "png"
    dpi: int = 110

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"--scale: {self.scale!r} is not one of {', '.join(SCALES)}")
        if self.format not in FORMATS:
            raise ValueError(f"--format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if not DPI_RANGE[0] <= self.dpi <= DPI_RANGE[1]:
            raise ValueError(f"--dpi: {self.dpi} is out of range (allowed: {DPI_RANGE[0]} ... {DPI_RANGE[1]})")
        if self.vmax is not None and not (math.isfinite(self.vmax) and self.vmax > 0):
            raise ValueError(f"--vmax: {self.vmax:g} is not a positive finite number")
        if self.times is not None and not all(math.isfinite(t) for t in self.times):
            raise ValueError("--times: every time must be a finite number")
