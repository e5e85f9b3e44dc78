"""The problem a solver integrates, independent of how it is discretised in time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .grid import Grid
from .interaction import ConvolutionInteraction
from .potentials import Potential
from .reactions import Reaction, get_reaction
from .schedule import Schedule, as_schedule

LIMITER_THETA = {"extremum": 0.0, "minmod": 1.0, "mc": 2.0}
FINITE_N_COUNT = 1e-6   # expected particles in a cell below which finite_n empties it


class GridInteraction(Protocol):
    """Anything that writes the interaction potential (K ⋆ μ) on the grid into ``out``."""

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None: ...


@dataclass
class Problem:
    """∂t μ = ∇·(μ ∇U) − α R(μ) on ``grid``, U = V + τ(log μ + 1), V = F + K ⋆ μ.

    ``potential`` is F: an array of the grid's shape or a :class:`~pdesolve.model.potentials.Potential`
    (evaluated at the cell centres).  ``interaction`` is K ⋆ μ: None when K = 0, an object with
    a ``potential(mu, out)`` method such as :class:`~pdesolve.model.interaction.ConvolutionInteraction`,
    or a bare kernel k (a callable with a ``gradient``), which is wrapped in a
    ConvolutionInteraction on ``grid``.  ``reaction`` names R in
    :data:`pdesolve.model.reactions.REACTIONS`: ``balanced`` (U − Ū)μ (seed (13)),
    ``unbalanced`` U μ (seed (12)), ``none``, or the refills ``reinjection`` and
    ``reinjection_deficit`` from the prior ``prior`` = μ_b (mass 1), which conserve mass.
    ``alpha`` is a number or a :mod:`~pdesolve.model.schedule` α(t) (stored as a schedule).
    ``transport`` False drops the ∇·(μ∇U) term (pure birth–death).  ``finite_n`` = n makes
    the grid a model of n particles: after every step the cells where fewer than
    :data:`FINITE_N_COUNT` of the n particles are expected, n μ_i |cell| / M₀ < FINITE_N_COUNT,
    are emptied (mass-conserving reactions then rescale to M₀): birth–death cannot grow
    mass out of tails that no finite population has (seed Fig. 1's bad start, #16).  ``loss_offset`` turns
    the energy into the network loss ½‖f − f_μ‖² = E + ½‖f‖² for neuron-form cases.
    """

    grid: Grid
    potential: np.ndarray | Potential
    interaction: GridInteraction | None = None
    reaction: str = "balanced"
    alpha: Schedule | float = 1.0
    tau: float = 0.0
    prior: np.ndarray | None = None
    loss_offset: float | None = None
    transport: bool = True
    finite_n: int | None = None

    def __post_init__(self):
        get_reaction(self.reaction)
        if self.tau < 0:
            raise ValueError("tau must be non-negative")
        if self.finite_n is not None and self.finite_n < 1:
            raise ValueError(f"finite_n must be a number of particles >= 1, got {self.finite_n}")
        self.alpha = as_schedule(self.alpha)
        if isinstance(self.potential, Potential):
            self.potential = self.potential.on_grid(self.grid)
        elif callable(self.potential):
            raise TypeError("potential must be an array of the grid's shape or a Potential "
                            "(wrap a function in CallablePotential(fn, ndim))")
        self.potential = np.ascontiguousarray(self.potential, dtype=np.float64)
        if self.potential.shape != self.grid.shape:
            raise ValueError(f"potential has shape {self.potential.shape}, grid {self.grid.shape}")
        if self.interaction is not None and not hasattr(self.interaction, "potential"):
            if not (callable(self.interaction) and hasattr(self.interaction, "gradient")):
                raise TypeError("interaction must be None, a grid interaction with a "
                                "potential(mu, out) method, or a kernel such as GaussianKernel, "
                                f"got {type(self.interaction).__name__}")
            self.interaction = ConvolutionInteraction(self.grid, self.interaction)
        if self.reaction_model.uses_prior:
            if self.prior is None:
                raise ValueError(f"the {self.reaction} reaction needs a prior density")
            prior = np.ascontiguousarray(self.prior, dtype=np.float64)
            if prior.shape != self.grid.shape or np.any(prior < 0) or not np.all(np.isfinite(prior)):
                raise ValueError("prior must be a finite non-negative array of the grid's shape")
            self.prior = prior / self.grid.integrate(prior)

    @property
    def reaction_model(self) -> Reaction:
        """The registered reaction ``reaction`` names."""
        return get_reaction(self.reaction)

    @property
    def has_reaction(self) -> bool:
        return self.reaction != "none" and not self.alpha.is_zero


@dataclass(frozen=True)
class Scheme:
    """Discretisation choices.

    ``order`` 1 (cell values at faces) or 2 (limited linear reconstruction with
    generalised-minmod parameter ``theta``: 1 minmod, 2 monotonised central, 0 the
    extremum-preserving variant, :func:`pdesolve.fv.backends.numba.transport.reconstruction_slope`);
    ``integrator`` ssprk2 or ssprk3 for transport; ``splitting`` strang
    (R(Δt/2) T(Δt) R(Δt/2)) or lie (T(Δt) R(Δt)); Δt = cfl / ν with the stability
    number ν of :meth:`pdesolve.fv.solver.Solver.stable_dt`, unless ``dt`` is fixed;
    ``backend`` names the array backend (:data:`pdesolve.fv.backends.BACKENDS`);
    ``diffusion`` explicit (τΔμ inside the SSP transport stages, Δt ≤ h²/(2dτ)) or implicit
    (transport and diffusion together by one backward-Euler Scharfetter–Gummel step with V
    frozen, :mod:`pdesolve.fv.backends.numba.implicit`: no h² limit, first order in Δt;
    ``order``, ``theta`` and ``integrator`` then play no part).
    """

    order: int = 2
    theta: float = 2.0
    integrator: str = "ssprk2"
    splitting: str = "strang"
    cfl: float = 0.5
    dt: float | None = None
    max_steps: int = 10_000_000
    backend: str = "numba"
    diffusion: str = "explicit"

    def __post_init__(self):
        if self.order not in (1, 2):
            raise ValueError("order must be 1 or 2")
        if not (self.theta == 0.0 or 1.0 <= self.theta <= 2.0):
            raise ValueError("theta must be 0 (extremum-preserving) or lie in [1, 2]")
        if self.integrator not in ("ssprk2", "ssprk3"):
            raise ValueError("integrator must be ssprk2 or ssprk3")
        if self.splitting not in ("strang", "lie"):
            raise ValueError("splitting must be strang or lie")
        if self.diffusion not in ("explicit", "implicit"):
            raise ValueError("diffusion must be explicit or implicit")
        if not 0.0 < self.cfl <= 1.0:
            raise ValueError("cfl must lie in (0, 1]")
        if self.dt is not None and not self.dt > 0:
            raise ValueError("dt must be positive")
