"""Uniform Cartesian grids of cell averages in 1, 2 or 3 dimensions."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

AXIS_NAMES = ("x", "y", "z")


def per_axis(value, ndim: int, name: str) -> np.ndarray:
    """``value`` (a number, or ``ndim`` numbers) as a new float64 vector of length ``ndim``."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim > 1 or (array.ndim == 1 and array.size not in (1, ndim)):
        raise ValueError(f"{name} must be a number or {ndim} numbers, got {value!r}")
    return np.broadcast_to(array.reshape(-1), (ndim,)).copy()


@dataclass(frozen=True)
class Grid:
    """A box ``[lower_a, upper_a]`` per axis cut into ``cells_a`` equal cells.

    ``periodic[a]`` says whether axis ``a`` wraps around; otherwise its two end
    faces are no-flux walls.  Cell ``i`` on axis ``a`` has centre
    ``lower_a + (i + 1/2) h_a`` with ``h_a = (upper_a - lower_a) / cells_a``.
    A single number for ``lower``, ``upper``, ``cells`` or ``periodic`` applies to every
    axis (``Grid(-4, 4, 200)`` is 1-D); the dimension is the longest of the four.
    """

    lower: tuple[float, ...] | float
    upper: tuple[float, ...] | float
    cells: tuple[int, ...] | int
    periodic: tuple[bool, ...] | bool = False

    def __post_init__(self):
        given = (self.lower, self.upper, self.cells, self.periodic)
        n = max(np.size(v) for v in given)
        for name, value in zip(("lower", "upper", "cells", "periodic"), given):
            object.__setattr__(self, name, tuple(np.ravel(value)) if np.ndim(value) else (value,) * n)
        n = len(self.cells)
        if not 1 <= n <= 3:
            raise ValueError(f"grid dimension must be 1, 2 or 3, got {n}")
        if not (len(self.lower) == len(self.upper) == len(self.periodic) == n):
            raise ValueError("lower, upper, cells and periodic must have one entry per axis")
        for a in range(n):
            if not self.upper[a] > self.lower[a]:
                raise ValueError(f"axis {a}: upper must exceed lower")
            if self.cells[a] < 1:
                raise ValueError(f"axis {a}: cells must be positive")
        object.__setattr__(self, "lower", tuple(float(v) for v in self.lower))
        object.__setattr__(self, "upper", tuple(float(v) for v in self.upper))
        object.__setattr__(self, "cells", tuple(int(v) for v in self.cells))
        object.__setattr__(self, "periodic", tuple(bool(v) for v in self.periodic))

    @property
    def ndim(self) -> int:
        return len(self.cells)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.cells

    @property
    def size(self) -> int:
        return int(np.prod(self.cells))

    @cached_property
    def spacing(self) -> tuple[float, ...]:
        """Cell width h_a per axis."""
        return tuple((u - l) / n for l, u, n in zip(self.lower, self.upper, self.cells))

    @property
    def cell_volume(self) -> float:
        """|cell| = prod_a h_a."""
        return float(np.prod(self.spacing))

    @cached_property
    def axes(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates per axis (1-D arrays)."""
        return tuple(l + (np.arange(n) + 0.5) * h
                     for l, n, h in zip(self.lower, self.cells, self.spacing))

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinate arrays of shape ``self.shape`` (``indexing='ij'``)."""
        return tuple(np.meshgrid(*self.axes, indexing="ij"))

    def integrate(self, values: np.ndarray) -> float:
        """Midpoint rule: sum_i values_i |cell|."""
        return float(np.sum(values)) * self.cell_volume

    def as3d(self, array: np.ndarray) -> np.ndarray:
        """View of a grid array with singleton axes appended up to three dimensions."""
        return array.reshape(self.cells + (1,) * (3 - self.ndim))

    def zeros(self) -> np.ndarray:
        return np.zeros(self.shape)


def centred_derivative(grid: Grid, field: np.ndarray, axis: int) -> np.ndarray:
    """∂_a f on the cell centres, over the last ``grid.ndim`` axes of ``field`` (leading axes
    are a stack): (f_{i+1} − f_{i−1})/(2h_a), wrapping around a periodic axis, with
    second-order one-sided differences at the two ends of a bounded one."""
    h = grid.spacing[axis]
    along = field.ndim - grid.ndim + axis
    if grid.periodic[axis]:
        return (np.roll(field, -1, along) - np.roll(field, 1, along)) / (2.0 * h)
    return np.gradient(field, h, axis=along, edge_order=2)
