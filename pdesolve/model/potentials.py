"""Single-particle potentials F(θ) of the transport equation, with their gradients.

Every potential is a function of ``ndim`` coordinate arrays (axis ``a`` is named
``AXIS_NAMES[a]``) that broadcast against each other; values and gradients are float64
arrays of the broadcast shape.  A ``traceable`` potential's formula also runs on
``jax.numpy`` arrays (:meth:`Potential.pointwise`; the JAX particle backend traces it).  ``loss_offset`` is the constant that turns the energy
into the loss of the neuron form (½‖f‖² for :class:`MixtureTarget`), or ``None``.
"""
from __future__ import annotations

import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..config.expression import compile_expression
from ..config.schema import (NON_NEGATIVE, POSITIVE, REQUIRED, Context, Key, Kind, centers, expression,
                             kind_of, number, number_list, per_axis_numbers)
from .grid import AXIS_NAMES, Grid, per_axis


class Potential(ABC):
    """F: R^ndim → R, evaluated pointwise on broadcastable coordinate arrays.

    Subclasses implement ``_value`` and ``_gradient`` on coordinate arrays already
    converted to float64 and broadcast to one shape.
    """

    ndim: int
    loss_offset: float | None = None
    traceable: bool = False

    @abstractmethod
    def _value(self, x: list[np.ndarray]) -> np.ndarray:
        """F at the points x (ndim float64 arrays of one shape)."""

    @abstractmethod
    def _gradient(self, x: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        """(∂F/∂θ_1, ..., ∂F/∂θ_ndim) at the points x."""

    def __call__(self, *coords: np.ndarray) -> np.ndarray:
        """F(θ) at the points with coordinates ``coords``, an array of their broadcast shape."""
        x = self._points(coords)
        return _full(self._value(x), x[0].shape)

    def gradient(self, *coords: np.ndarray) -> tuple[np.ndarray, ...]:
        """(∂F/∂θ_1, ..., ∂F/∂θ_ndim) at the points with coordinates ``coords``."""
        x = self._points(coords)
        return tuple(_full(g, x[0].shape) for g in self._gradient(x))

    def pointwise(self, x: list) -> tuple:
        """(F, (∂F/∂θ_1, ..., ∂F/∂θ_ndim)) at the points x (ndim arrays of one shape, numpy,
        or jax.numpy when ``traceable``), each a scalar or an array of that shape, not copied."""
        return self._value(x), self._gradient(x)

    def on_grid(self, grid: Grid) -> np.ndarray:
        """F at the cell centres of ``grid``, a C-contiguous float64 array of ``grid.shape``."""
        if grid.ndim != self.ndim:
            raise ValueError(f"{type(self).__name__} is {self.ndim}-D, the grid {grid.ndim}-D")
        return np.ascontiguousarray(self(*grid.mesh()), dtype=np.float64)

    def _points(self, coords) -> list[np.ndarray]:
        """The coordinate arrays as float64, broadcast to their common shape."""
        if len(coords) != self.ndim:
            raise TypeError(f"{type(self).__name__} takes {self.ndim} coordinate arrays, "
                            f"got {len(coords)}")
        return list(np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in coords)))


def _array_module(x: Sequence) -> object:
    """jax.numpy if the coordinate arrays are JAX arrays (traced), else numpy."""
    jax = sys.modules.get("jax")
    return jax.numpy if jax is not None and isinstance(x[0], jax.Array) else np


def _full(value, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a new float64 array of ``shape``."""
    return np.array(np.broadcast_to(np.asarray(value, dtype=np.float64), shape))


class ZeroPotential(Potential):
    """F = 0."""

    traceable = True

    def __init__(self, ndim: int):
        self.ndim = ndim

    def _value(self, x):
        return 0.0

    def _gradient(self, x):
        return (0.0,) * self.ndim


class Quadratic(Potential):
    """F(θ) = ½ Σ_a k_a (θ_a − c_a)²,  ∂F/∂θ_a = k_a (θ_a − c_a)."""

    traceable = True

    def __init__(self, center: Sequence[float], stiffness: Sequence[float] | float):
        self.center = np.atleast_1d(np.asarray(center, dtype=np.float64))
        self.ndim = self.center.size
        self.stiffness = per_axis(stiffness, self.ndim, "stiffness")

    def _value(self, x):
        return sum(0.5 * k * (xa - c) ** 2 for xa, c, k in zip(x, self.center, self.stiffness))

    def _gradient(self, x):
        return tuple(k * (xa - c) for xa, c, k in zip(x, self.center, self.stiffness))


class DoubleWell(Potential):
    """F(θ) = depth Σ_a ((θ_a − c_a)² − r²)² / r⁴.

    Minima F = 0 at θ_a = c_a ± r, a barrier of height ``depth`` per axis at θ_a = c_a;
    ∂F/∂θ_a = 4 depth (θ_a − c_a) ((θ_a − c_a)² − r²) / r⁴.
    """

    traceable = True

    def __init__(self, center: Sequence[float], radius: float, depth: float):
        self.center = np.atleast_1d(np.asarray(center, dtype=np.float64))
        self.ndim = self.center.size
        if not radius > 0:
            raise ValueError(f"double_well radius must be positive, got {radius}")
        self.radius = float(radius)
        self.depth = float(depth)

    def _value(self, x):
        r2 = self.radius ** 2
        return sum(self.depth * ((xa - c) ** 2 - r2) ** 2 / r2 ** 2
                   for xa, c in zip(x, self.center))

    def _gradient(self, x):
        r2 = self.radius ** 2
        return tuple(4.0 * self.depth * (xa - c) * ((xa - c) ** 2 - r2) / r2 ** 2
                     for xa, c in zip(x, self.center))


class MultiWell(Potential):
    """F(θ) = depth Σ_a (1 − cos(2π θ_a / p_a)) + Σ_a t_a θ_a: a tilted periodic landscape.

    ∂F/∂θ_a = depth (2π / p_a) sin(2π θ_a / p_a) + t_a.
    """

    traceable = True

    def __init__(self, period: Sequence[float], depth: float, tilt: Sequence[float] | float):
        self.period = np.atleast_1d(np.asarray(period, dtype=np.float64))
        self.ndim = self.period.size
        if not np.all(self.period > 0):
            raise ValueError(f"multi_well periods must be positive, got {period!r}")
        self.depth = float(depth)
        self.tilt = per_axis(tilt, self.ndim, "tilt")

    def _value(self, x):
        xp = _array_module(x)
        return sum(self.depth * (1.0 - xp.cos(2.0 * math.pi * xa / p)) + t * xa
                   for xa, p, t in zip(x, self.period, self.tilt))

    def _gradient(self, x):
        xp = _array_module(x)
        return tuple(self.depth * (2.0 * math.pi / p) * xp.sin(2.0 * math.pi * xa / p) + t
                     for xa, p, t in zip(x, self.period, self.tilt))


class ExpressionPotential(Potential):
    """F given as text in the variables ``AXIS_NAMES[:ndim]``; symbolic gradient."""

    def __init__(self, text: str, ndim: int):
        self.ndim = ndim
        self.expression = compile_expression(text, AXIS_NAMES[:ndim])

    def _value(self, x):
        return self.expression(*x)

    def _gradient(self, x):
        return self.expression.gradient(*x)


class CallablePotential(Potential):
    """F given as a Python function of ``ndim`` arrays; gradient by centred differences.

    ∂F/∂θ_a ≈ (F(θ + h_a e_a) − F(θ − h_a e_a)) / (2 h_a) with h_a = 1e-6 max(1, |θ_a|).
    """

    def __init__(self, fn: Callable[..., np.ndarray], ndim: int):
        self.fn = fn
        self.ndim = ndim

    def _value(self, x):
        return self.fn(*x)

    def _gradient(self, x):
        result = []
        for a in range(self.ndim):
            step = 1e-6 * np.maximum(1.0, np.abs(x[a]))
            plus = self(*x[:a], x[a] + step, *x[a + 1:])
            minus = self(*x[:a], x[a] - step, *x[a + 1:])
            result.append((plus - minus) / (2.0 * step))
        return tuple(result)


class ArrayPotential(Potential):
    """F given by its values at the cell centres of ``grid``.

    Between centres F is interpolated multilinearly (wrapping around periodic axes and
    held constant beyond the outermost centres of bounded axes), so F at a centre is
    the stored value exactly.  The gradient is the centred difference
    (F_{i+1} − F_{i−1}) / (2h) on the grid (one-sided at walls), interpolated the same way.
    """

    def __init__(self, grid: Grid, values: np.ndarray):
        values = np.asarray(values, dtype=np.float64)
        if values.shape != grid.shape:
            raise ValueError(f"array potential has shape {values.shape}, grid has {grid.shape}")
        self.grid = grid
        self.ndim = grid.ndim
        self.values = np.ascontiguousarray(values)
        self.gradient_values = tuple(self._grid_derivative(a) for a in range(grid.ndim))

    def _grid_derivative(self, axis: int) -> np.ndarray:
        v, h, n = self.values, self.grid.spacing[axis], self.grid.cells[axis]
        if n < 2:
            return np.zeros_like(v)
        if self.grid.periodic[axis]:
            return (np.roll(v, -1, axis) - np.roll(v, 1, axis)) / (2.0 * h)
        return np.gradient(v, h, axis=axis)

    def _stencil(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices (i0, i1) of the centres around x on ``axis`` and the weight w of i1."""
        n = self.grid.cells[axis]
        s = (x - self.grid.lower[axis]) / self.grid.spacing[axis] - 0.5
        nearest = np.rint(s)
        s = np.where(np.abs(s - nearest) < 1e-9, nearest, s)
        if self.grid.periodic[axis]:
            i0 = np.floor(s)
            w = s - i0
            i0 = i0.astype(np.int64) % n
            return i0, (i0 + 1) % n, w
        if n < 2:
            zero = np.zeros(x.shape, dtype=np.int64)
            return zero, zero, np.zeros(x.shape)
        s = np.clip(s, 0.0, n - 1.0)
        i0 = np.minimum(np.floor(s), n - 2.0)
        return i0.astype(np.int64), i0.astype(np.int64) + 1, s - i0

    def _interpolate(self, table: np.ndarray, stencils) -> np.ndarray:
        """Σ over the 2^ndim corners of Π_a (weight) · table[corner]."""
        result = np.zeros(stencils[0][2].shape)
        for corner in range(2 ** self.ndim):
            index, weight = [], 1.0
            for a, (i0, i1, w) in enumerate(stencils):
                upper = (corner >> a) & 1
                index.append(i1 if upper else i0)
                weight = weight * (w if upper else 1.0 - w)
            result += weight * table[tuple(index)]
        return result

    def _value(self, x):
        return self._interpolate(self.values, [self._stencil(xa, a) for a, xa in enumerate(x)])

    def _gradient(self, x):
        stencils = [self._stencil(xa, a) for a, xa in enumerate(x)]
        return tuple(self._interpolate(g, stencils) for g in self.gradient_values)

    def on_grid(self, grid: Grid) -> np.ndarray:
        """The stored values when ``grid`` is the potential's own grid, else interpolated."""
        if grid == self.grid:
            return self.values.copy()
        return super().on_grid(grid)


class MixtureTarget(Potential):
    """The potential of the neuron form for the Gaussian-mixture target of seed §7.1.

    Coordinates θ = (z, c): the first d_x = ndim − 1 axes are a unit's centre z, the last
    its output weight c.  Target and units (normalised Gaussian densities):

        f(x)    = (1/m) Σ_i c̄_i N(x; z̄_i, σ_i² I),      φ(x, z) = N(x; z, s² I),
        f̂(z)    = −∫ f(x) φ(x, z) dx = −(1/m) Σ_i c̄_i N(z; z̄_i, v_i I),  v_i = σ_i² + s²,
        F(z, c) = c f̂(z),
        ∂F/∂z   = c (1/m) Σ_i c̄_i N(z; z̄_i, v_i I) (z − z̄_i) / v_i,
        ∂F/∂c   = f̂(z),

    with s² = ``unit_variance``.  ``loss_offset`` = ½‖f‖² =
    ½ (1/m²) Σ_ij c̄_i c̄_j N(z̄_i − z̄_j; 0, (σ_i² + σ_j²) I), so that energy + loss_offset
    is the mean-squared loss ½‖f − f_μ‖² of the network f_μ(x) = ∫ c φ(x, z) dμ(z, c).
    """

    traceable = True

    def __init__(self, centers: Sequence, variances: Sequence[float] | float,
                 weights: Sequence[float], unit_variance: float):
        self.weights = np.atleast_1d(np.asarray(weights, dtype=np.float64))
        m = self.weights.size
        if self.weights.ndim != 1 or m == 0:
            raise ValueError("mixture_target needs a non-empty list of weights")
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim == 1:  # one number per centre: d_x = 1
            centers = centers[:, None]
        if centers.ndim != 2 or centers.shape[0] != m:
            raise ValueError(f"mixture_target needs one centre per weight ({m}), "
                             f"got centres of shape {centers.shape}")
        self.centers = centers
        self.input_dim = centers.shape[1]
        self.ndim = self.input_dim + 1
        self.variances = per_axis(variances, m, "variances")
        if not (np.all(self.variances > 0) and unit_variance > 0):
            raise ValueError("mixture_target variances and unit_variance must be positive")
        self.unit_variance = float(unit_variance)
        self.loss_offset = self._half_target_norm()

    def _half_target_norm(self) -> float:
        """½ (1/m²) Σ_ij c̄_i c̄_j N(z̄_i − z̄_j; 0, (σ_i² + σ_j²) I)."""
        m = self.weights.size
        diff2 = np.sum((self.centers[:, None, :] - self.centers[None, :, :]) ** 2, axis=-1)
        pair_variance = self.variances[:, None] + self.variances[None, :]
        overlap = _gaussian(diff2, pair_variance, self.input_dim)
        return float(0.5 * self.weights @ overlap @ self.weights / m ** 2)

    def _components(self, x: Sequence[np.ndarray], extra_variance: float):
        """Per component i: ((1/m) c̄_i N(x; z̄_i, v_i I), x − z̄_i, v_i), v_i = σ_i² + extra."""
        m = self.weights.size
        for i in range(m):
            v = self.variances[i] + extra_variance
            offset = [xa - ca for xa, ca in zip(x, self.centers[i])]
            r2 = sum(o * o for o in offset)
            yield self.weights[i] / m * _gaussian(r2, v, self.input_dim, _array_module(x)), offset, v

    def _input_points(self, coords) -> list[np.ndarray]:
        if len(coords) != self.input_dim:
            raise TypeError(f"the target takes {self.input_dim} coordinate arrays, "
                            f"got {len(coords)}")
        return list(np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in coords)))

    def target(self, *x: np.ndarray) -> np.ndarray:
        """f(x) = (1/m) Σ_i c̄_i N(x; z̄_i, σ_i² I)."""
        x = self._input_points(x)
        return _full(sum(term for term, _, _ in self._components(x, 0.0)), x[0].shape)

    def fhat(self, *z: np.ndarray) -> np.ndarray:
        """f̂(z) = −∫ f(x) φ(x, z) dx = −(1/m) Σ_i c̄_i N(z; z̄_i, (σ_i² + s²) I)."""
        z = self._input_points(z)
        return _full(-sum(term for term, _, _ in self._components(z, self.unit_variance)),
                     z[0].shape)

    def _value(self, x):
        return x[-1] * -sum(term for term, _, _ in self._components(x[:-1], self.unit_variance))

    def _gradient(self, x):
        z, c = x[:-1], x[-1]
        xp = _array_module(x)
        fhat = xp.zeros(c.shape)
        dfhat = [xp.zeros(c.shape) for _ in z]
        for term, offset, v in self._components(z, self.unit_variance):
            fhat -= term
            for a, o in enumerate(offset):
                dfhat[a] += term * o / v
        return (*(c * g for g in dfhat), fhat)


def _gaussian(squared_distance, variance, dim: int, xp=np):
    """N(·; 0, variance I) in ``dim`` dimensions at a point with |·|² = squared_distance
    (``xp`` the array module, numpy or jax.numpy)."""
    return xp.exp(-0.5 * squared_distance / variance) / (2.0 * math.pi * variance) ** (dim / 2)


def _check_multi_well(values: dict, prefix: str, ctx: Context) -> None:
    """On a periodic axis F must be periodic too: no tilt, and the period divides the box."""
    for axis, boundary in enumerate(ctx.grid["boundary"]):
        if boundary != "periodic":
            continue
        name = AXIS_NAMES[axis]
        if values["tilt"][axis] != 0:
            ctx.fail(f"{prefix}.tilt", f"{values['tilt'][axis]:g} on periodic axis {name} makes "
                                       "the potential jump at the wrap", "0 on periodic axes")
        length = ctx.grid["upper"][axis] - ctx.grid["lower"][axis]
        period = values["period"][axis]
        ratio = length / period
        if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6 * ratio:
            ctx.fail(f"{prefix}.period", f"{period:g} on periodic axis {name} does not divide the "
                                         f"box length {length:g}", "length / period an integer")


def _check_mixture(values: dict, prefix: str, ctx: Context) -> None:
    """One variance and one weight per centre."""
    m = len(values["centers"])
    for name in ("variances", "weights"):
        if len(values[name]) != m:
            ctx.fail(f"{prefix}.{name}", f"expected {m} entries, one per entry of "
                                         f"{prefix}.centers, got {len(values[name])}")


def _mixture_target(spec, ndim: int) -> MixtureTarget:
    if ndim < 2:
        raise ValueError("mixture_target needs 2 or more axes: unit centre z and weight c")
    centers = [per_axis(c, ndim - 1, "each of centers") for c in spec["centers"]]
    weights = np.atleast_1d(np.asarray(spec["weights"], dtype=np.float64))
    variances = per_axis(spec["variances"], weights.size, "variances")
    return MixtureTarget(centers, variances, weights, spec["unit_variance"])


# The [potential] kinds of a case file: keys, formula, builder ``build(spec, ndim)``.
POTENTIALS: dict[str, Kind] = {
    "none": Kind({}, doc="0", build=lambda spec, ndim: ZeroPotential(ndim)),
    "quadratic": Kind(
        {"center": Key(per_axis_numbers(), 0.0), "stiffness": Key(per_axis_numbers(NON_NEGATIVE), 1.0, "k")},
        doc="½ Σ_a k_a (θ_a − center_a)²",
        build=lambda spec, ndim: Quadratic(per_axis(spec["center"], ndim, "center"),
                                           per_axis(spec["stiffness"], ndim, "stiffness"))),
    "double_well": Kind(
        {"center": Key(per_axis_numbers(), 0.0), "radius": Key(number(POSITIVE), 1.0, "r"),
         "depth": Key(number(NON_NEGATIVE), 1.0, "h")},
        doc="h Σ_a ((θ_a − center_a)² − r²)² / r⁴: wells at θ_a = center_a ± r (2^d of them), "
            "barrier h per axis",
        build=lambda spec, ndim: DoubleWell(per_axis(spec["center"], ndim, "center"),
                                            spec["radius"], spec["depth"])),
    "multi_well": Kind(
        {"period": Key(per_axis_numbers(POSITIVE), 1.0, "P"), "depth": Key(number(), 1.0, "h"),
         "tilt": Key(per_axis_numbers(), 0.0, "t")},
        check=_check_multi_well,
        doc="h Σ_a (1 − cos(2π θ_a / P_a)) + Σ_a t_a θ_a: wells at θ_a = k P_a, barriers 2h, "
            "tilted by t",
        build=lambda spec, ndim: MultiWell(per_axis(spec["period"], ndim, "period"), spec["depth"],
                                           per_axis(spec["tilt"], ndim, "tilt"))),
    "expression": Kind(
        {"expr": Key(expression, REQUIRED)},
        doc="the expression, in the variables `x`, `y`, `z` (first d of them)",
        build=lambda spec, ndim: ExpressionPotential(spec["expr"], ndim)),
    "mixture_target": Kind(
        {"centers": Key(centers, REQUIRED), "variances": Key(number_list(POSITIVE), REQUIRED),
         "weights": Key(number_list(), REQUIRED), "unit_variance": Key(number(POSITIVE), 0.5, "s²")},
        min_dim=2, check=_check_mixture, doc="c f̂(z), see below", build=_mixture_target),
}


def potential_from_spec(spec: Mapping, ndim: int) -> Potential:
    """The potential a [potential] table describes (a validated case's, or a dict written by
    hand: missing keys take their case-file defaults); kinds and keys in ``POTENTIALS``."""
    entry = kind_of("potential", POTENTIALS, spec)
    return entry.build(entry.complete("potential", spec), ndim)
