"""Exact Gaussian solutions of the transport/birth–death equation (DESIGN §3, from seed (14)).

Setting: F = (a/2)|θ|², optional quadratic interaction k(x) = (b/2)|x|², μ₀ = M₀ N(m₀, s₀² I).
Every case keeps μ_t Gaussian; each axis evolves independently with precision p = 1/s²:

* transport (+ diffusion τ):          m = m₀ e^{−at},  s² = τ/a + (s₀² − τ/a) e^{−2at}
* balanced reaction only:             p = p₀ + α a t,  m p = m₀ p₀
* transport + balanced reaction, b ≥ 0:
      p = (p₀ + α/2) e^{2(a+b)t} − α/2,  m = m₀ e^{−at} (p₀ e^{2(a+b)t} / p)^{a/(a+b)}
* unbalanced (12) with b = 0: same shape as the balanced case; the mass obeys
      dM/dt = −α ∫V dμ = −α M (a/2) Σ_axes (m² + s²).

With a time-dependent α(t) (:mod:`pdesolve.model.schedule`) and c = a + b, the same flows
solve (the constant-α formulas above are these integrated)::

      reaction only:        p = p₀ + a ∫₀ᵗ α,  m p = m₀ p₀
      with transport:       dp/dt = 2c p + c α(t),  d log m/dt = −a (1 + α(t)/p)

and the second pair is integrated numerically (DOP853, rtol 1e-12, piece by piece between
the schedule's breakpoints).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import quad, solve_ivp

from ..model.grid import Grid
from ..model.interaction import ConvolutionInteraction, QuadraticKernel
from ..model.problem import Problem
from ..model.schedule import Constant, Schedule, as_schedule


@dataclass(frozen=True)
class GaussianState:
    """M N(mean, diag(variance)) at one time."""

    mass: float
    mean: np.ndarray
    variance: np.ndarray

    def density(self, grid: Grid) -> np.ndarray:
        """Point values of M Π_a N(x_a; mean_a, variance_a) at the cell centres."""
        values = np.full(grid.shape, self.mass)
        for axis, coords in enumerate(grid.mesh()):
            var = self.variance[axis]
            values = values * np.exp(-(coords - self.mean[axis]) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)
        return values


@dataclass(frozen=True)
class GaussianFlow:
    """The exact flow of DESIGN §3 for F = (a/2)|θ|², k = (b/2)|x|², start M₀ N(m₀, s₀²).

    ``reaction`` is "none", "balanced" or "unbalanced"; ``transport`` False gives pure
    birth–death.  Combinations without a closed form raise ValueError.
    """

    a: float
    m0: tuple[float, ...]
    s0: float
    alpha: Schedule | float = 0.0
    b: float = 0.0
    tau: float = 0.0
    reaction: str = "none"
    transport: bool = True
    mass0: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "alpha", as_schedule(self.alpha))
        has_reaction = self.reaction != "none" and not self.alpha.is_zero
        if self.tau > 0 and has_reaction:
            raise ValueError("no closed form with both diffusion and reaction")
        if not self.transport and (self.b != 0 or self.tau > 0 or not has_reaction):
            raise ValueError("without transport only pure reaction with b = 0 has a closed form")
        if self.reaction == "unbalanced" and self.b != 0:
            raise ValueError("the unbalanced closed form needs b = 0")

    def _shape(self, t: float) -> tuple[np.ndarray, float]:
        """(mean per axis, variance) of the normalised density at time t."""
        m0 = np.asarray(self.m0, dtype=float)
        a, b, schedule = self.a, self.b, self.alpha
        p0 = 1.0 / self.s0 ** 2
        has_reaction = self.reaction != "none" and not schedule.is_zero
        if not self.transport:
            p = p0 + a * schedule.integral(0.0, t) if not isinstance(schedule, Constant) \
                else p0 + schedule.value * a * t
            return m0 * p0 / p, 1.0 / p
        if not has_reaction:
            if self.tau > 0:
                var = self.tau / (a + b) + (self.s0 ** 2 - self.tau / (a + b)) * np.exp(-2 * (a + b) * t)
            else:
                var = self.s0 ** 2 * np.exp(-2 * (a + b) * t)
            return m0 * np.exp(-a * t), var
        if not isinstance(schedule, Constant):
            return self._scheduled_shape(t, m0, p0)
        alpha = schedule.value
        growth = np.exp(2 * (a + b) * t)
        p = (p0 + alpha / 2) * growth - alpha / 2
        mean = m0 * np.exp(-a * t) * (p0 * growth / p) ** (a / (a + b))
        return mean, 1.0 / p

    def _scheduled_shape(self, t: float, m0: np.ndarray, p0: float) -> tuple[np.ndarray, float]:
        """(mean, variance) with transport and a time-dependent α: dp/dt = 2cp + cα(t),
        d log m/dt = −a(1 + α(t)/p), integrated between the breakpoints of α."""
        a, c, schedule = self.a, self.a + self.b, self.alpha

        def rates(s, y):
            alpha = schedule.value_at(s)
            return [2 * c * y[0] + c * alpha, -a * (1 + alpha / y[0])]

        y = [p0, 0.0]
        edges = [0.0, *(s for s in schedule.breakpoints if 0 < s < t), t]
        for start, stop in zip(edges, edges[1:]):
            if stop > start:
                solution = solve_ivp(rates, (start, stop), y, method="DOP853", rtol=1e-12, atol=1e-14)
                if not solution.success:
                    raise RuntimeError(f"the exact flow's moment ODE failed on [{start:g}, {stop:g}]: "
                                       f"{solution.message}")
                y = solution.y[:, -1]
        return m0 * np.exp(y[1]), 1.0 / y[0]

    def mass(self, t: float) -> float:
        """M(t): constant except for the unbalanced reaction, where it integrates the mass ODE."""
        if self.reaction != "unbalanced" or self.alpha.is_zero:
            return self.mass0

        def rate(s):
            mean, var = self._shape(s)
            return self.alpha.value_at(s) * 0.5 * self.a * float(np.sum(mean ** 2 + var))

        breaks = [s for s in self.alpha.breakpoints if 0 < s < t]
        integral, _ = quad(rate, 0.0, t, epsabs=1e-13, epsrel=1e-12, points=breaks or None)
        return self.mass0 * np.exp(-integral)

    def problem(self, grid: Grid) -> Problem:
        """The grid problem of this flow: F = (a/2)|θ|², k = (b/2)|x|² by FFT when b ≠ 0."""
        potential = 0.5 * self.a * sum(c ** 2 for c in grid.mesh())
        interaction = ConvolutionInteraction(grid, QuadraticKernel(self.b)) if self.b else None
        return Problem(grid, potential, interaction, self.reaction, self.alpha, self.tau,
                       transport=self.transport)

    def initial_density(self, grid: Grid) -> np.ndarray:
        """μ₀ sampled at the cell centres and rescaled to mass M₀ on the grid."""
        mu0 = self.state(0.0).density(grid)
        return mu0 * self.mass0 / grid.integrate(mu0)

    def state(self, t: float) -> GaussianState:
        mean, var = self._shape(t)
        ndim = len(self.m0)
        return GaussianState(self.mass(t), np.asarray(mean, dtype=float), np.full(ndim, var, dtype=float))


def gibbs_density(grid: Grid, potential: np.ndarray, tau: float, mass: float = 1.0) -> np.ndarray:
    """Stationary state for τ > 0 and K = 0: μ* = M exp(−F/τ) / ∫exp(−F/τ)."""
    weights = np.exp(-(potential - potential.min()) / tau)
    return mass * weights / grid.integrate(weights)


EXACT_REACTIONS = ("none", "balanced", "unbalanced")


def exact_flow_of_case(case) -> GaussianFlow | None:
    """The :class:`GaussianFlow` a case runs, when it is one: F = (a/2)|θ|² (quadratic, centre
    0, one stiffness a > 0 on every axis), μ₀ = M₀ N(m₀, s₀² I) (gaussian, one std), no
    interaction or a quadratic one of strength b with a + b M₀ > 0, reaction none, balanced
    or unbalanced (then b = 0), no-flux walls.
    None otherwise (and where the flow has no closed form).  The box is taken as all of ℝᵈ:
    the mass beyond it is the case's to keep negligible."""
    potential, initial, interaction = case.potential, case.initial, case.interaction
    stiffness, std = set(potential.get("stiffness", ())), set(initial.get("std", ()))
    if (potential.kind != "quadratic" or any(c != 0 for c in potential["center"]) or len(stiffness) != 1
            or initial.kind != "gaussian" or len(std) != 1 or interaction.kind not in ("none", "quadratic")
            or case.dynamics.reaction not in EXACT_REACTIONS or "periodic" in case.grid.boundary):
        return None
    (a,), (s0,) = stiffness, std
    mass = float(initial["mass"])
    # K ⋆ μ = (b/2) M |θ − m|² + const: the flow's b is the kernel's strength times the mass
    b = float(interaction["strength"]) * mass if interaction.kind == "quadratic" else 0.0
    if a <= 0 or a + b <= 0:
        return None
    try:
        return GaussianFlow(a=a, m0=tuple(initial["mean"]), s0=s0, alpha=case.dynamics.alpha, b=b,
                            tau=case.dynamics.tau, reaction=case.dynamics.reaction,
                            transport=case.dynamics.transport, mass0=mass)
    except ValueError:
        return None
