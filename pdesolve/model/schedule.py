"""The reaction strength α as a function of time (``dynamics.alpha``): a constant, a
piecewise-constant schedule, or an expression in t.

The seed (§7.2) suggests lowering α as training goes on; its authors' notebook switches
birth–death off for the last steps.  Every scheme sees α only through three questions:

* :meth:`mean` (t, Δt) = (1/Δt) ∫_t^{t+Δt} α(s) ds: the exact reaction step with U frozen
  over [t, t + Δt] is μ ← μ exp(−Δt · mean · (U − s)) (and particle birth–death over the step
  uses the same mean rate).  A :class:`Constant` returns its value itself, so a run with a
  number is bit for bit what it was before schedules existed;
* :meth:`peak` (t₀, t₁) = max α on [t₀, t₁], for the step-size bounds;
* :meth:`value_at` (t) = α(t), for the diagnostics' reaction rate.

:meth:`mean` of an expression is 5-point Gauss–Legendre over the step (exact for polynomials
of degree ≤ 9; second order in time needs a smooth α: a jump belongs in a piecewise form).
:meth:`integral` (t₀, t₁) = ∫_{t₀}^{t₁} α over any interval is exact for the piecewise forms
and adaptive quadrature (scipy's ``quad``) for an expression: it is what the exact solutions use.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

# Gauss–Legendre nodes and weights on [0, 1]
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(5)
GAUSS_NODES, GAUSS_WEIGHTS = 0.5 * (_NODES + 1.0), 0.5 * _WEIGHTS
PEAK_SAMPLES = 9          # points of [t0, t1] where an expression's peak is looked for
CHECK_SAMPLES = 4097      # points of [0, t_end] where a case's expression is checked to be >= 0


class ScheduleError(ValueError):
    """α(t) is negative or not finite somewhere it is needed."""


@dataclass(frozen=True)
class Constant:
    """α(t) = value."""

    value: float

    def __post_init__(self):
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ScheduleError(f"alpha must be a finite number >= 0, got {self.value!r}")

    @property
    def is_zero(self) -> bool:
        return self.value == 0.0

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return ()

    def value_at(self, t: float) -> float:
        return self.value

    def mean(self, t: float, dt: float) -> float:
        return self.value

    def integral(self, t0: float, t1: float) -> float:
        return self.value * (t1 - t0)

    def peak(self, t0: float, t1: float, samples: int = PEAK_SAMPLES) -> float:
        return self.value

    def describe(self) -> str:
        return f"{self.value:g}"

    def as_json(self):
        return self.value


@dataclass(frozen=True)
class Piecewise:
    """α(t) = values[k] for times[k] ≤ t < times[k+1] (the last value for t ≥ times[-1]);
    times[0] = 0 and the times strictly increase."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self):
        object.__setattr__(self, "times", tuple(float(t) for t in self.times))
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if len(self.times) != len(self.values) or not self.times:
            raise ScheduleError("alpha: times and values need the same length, at least 1")
        if self.times[0] != 0.0 or any(b <= a for a, b in zip(self.times, self.times[1:])):
            raise ScheduleError("alpha: times must start at 0 and strictly increase")
        if not all(math.isfinite(v) and v >= 0 for v in self.values):
            raise ScheduleError("alpha: values must be finite numbers >= 0")

    @property
    def is_zero(self) -> bool:
        return not any(self.values)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return self.times[1:]

    def _piece(self, t: float) -> int:
        return max(0, int(np.searchsorted(self.times, t, side="right")) - 1)

    def value_at(self, t: float) -> float:
        return self.values[self._piece(t)]

    def integral(self, t0: float, t1: float) -> float:
        first, last = self._piece(t0), self._piece(t1)
        if first == last:
            return self.values[first] * (t1 - t0)
        total = self.values[first] * (self.times[first + 1] - t0)
        for k in range(first + 1, last):
            total += self.values[k] * (self.times[k + 1] - self.times[k])
        return total + self.values[last] * (t1 - self.times[last])

    def mean(self, t: float, dt: float) -> float:
        first = self._piece(t)
        if first + 1 == len(self.times) or t + dt <= self.times[first + 1]:
            return self.values[first]      # within one piece: exactly its value
        return self.integral(t, t + dt) / dt

    def peak(self, t0: float, t1: float, samples: int = PEAK_SAMPLES) -> float:
        last = len(self.values) - 1 if math.isinf(t1) else self._piece(t1)
        return max(self.values[self._piece(t0):last + 1])

    def describe(self) -> str:
        if len(self.values) == 2 and self.values[1] == 0.0:
            return f"{self.values[0]:g}, off after t = {self.times[1]:g}"
        return "; ".join(f"{v:g} from t = {t:g}" for t, v in zip(self.times, self.values))

    def as_json(self):
        return {"times": list(self.times), "values": list(self.values)}


@dataclass(frozen=True)
class Expression:
    """α(t) given by an expression in t (:mod:`pdesolve.config.expression`), e.g.
    ``"0.1*exp(-t/50)"``; it must be ≥ 0 wherever it is used."""

    text: str

    @cached_property
    def _function(self):
        from ..config.expression import compile_expression
        return compile_expression(self.text, ("t",))

    @property
    def is_zero(self) -> bool:
        return False

    @property
    def breakpoints(self) -> tuple[float, ...]:
        return ()

    def values(self, t: np.ndarray) -> np.ndarray:
        """α at the times ``t`` (ScheduleError where negative or not finite)."""
        values = np.broadcast_to(np.asarray(self._function(np.asarray(t, dtype=float)), dtype=float),
                                 np.shape(t))
        bad = ~(np.isfinite(values) & (values >= 0))
        if bad.any():
            k = int(np.flatnonzero(bad.ravel())[0])
            raise ScheduleError(f"alpha = {self.text!r} is {values.ravel()[k]:g} at t = "
                                f"{np.ravel(t)[k]:g}; it must be finite and >= 0")
        return values

    def value_at(self, t: float) -> float:
        return float(self.values(np.array([t]))[0])

    def integral(self, t0: float, t1: float) -> float:
        from scipy.integrate import quad
        return float(quad(self.value_at, t0, t1, epsabs=1e-14, epsrel=1e-13, limit=500)[0])

    def mean(self, t: float, dt: float) -> float:
        return float(GAUSS_WEIGHTS @ self.values(t + dt * GAUSS_NODES))

    def peak(self, t0: float, t1: float, samples: int = PEAK_SAMPLES) -> float:
        """The largest of α at ``samples`` equally spaced times of [t₀, t₁] (t₁ finite)."""
        if not math.isfinite(t1):
            raise ScheduleError(f"alpha = {self.text!r}: its peak needs a finite interval")
        return float(np.max(self.values(np.linspace(t0, t1, samples))))

    def check(self, t_end: float) -> None:
        """ScheduleError unless α is finite and ≥ 0 on a fine sampling of [0, t_end]."""
        self.values(np.linspace(0.0, t_end, CHECK_SAMPLES))

    def describe(self) -> str:
        return self.text

    def as_json(self):
        return self.text


Schedule = Constant | Piecewise | Expression


def as_schedule(alpha) -> Schedule:
    """A schedule from a number or a schedule."""
    if isinstance(alpha, (Constant, Piecewise, Expression)):
        return alpha
    return Constant(float(alpha))


def schedule_of(data) -> Schedule:
    """The schedule a validated ``dynamics.alpha`` describes: a number, an expression's
    text, or {"times": [..], "values": [..]}."""
    if isinstance(data, str):
        return Expression(data)
    if isinstance(data, dict):
        return Piecewise(tuple(data["times"]), tuple(data["values"]))
    return as_schedule(data)
