"""The problem a solver integrates, independent of how it is discretised in time."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .grid import Grid

REACTIONS = ("balanced", "unbalanced", "none", "reinjection", "reinjection_deficit")
REINJECTIONS = ("reinjection", "reinjection_deficit")
LIMITER_THETA = {"extremum": 0.0, "minmod": 1.0, "mc": 2.0}


class GridInteraction(Protocol):
    """Anything that writes the interaction potential (K ⋆ μ) on the grid into ``out``."""

    def potential(self, mu: np.ndarray, out: np.ndarray) -> None: ...


@dataclass
class Problem:
    """∂t μ = ∇·(μ ∇U) − α R(μ) on ``grid``, U = V + τ(log μ + 1), V = F + K ⋆ μ.

    ``reaction`` selects R: ``balanced`` (U − Ū)μ (seed (13)), ``unbalanced`` U μ
    (seed (12)), ``none``, or a refill from the prior ``prior`` = μ_b (mass 1):
    ``reinjection``  U μ − ⟨U⁺⟩ μ_b + ⟨U⁻⟩ μ/M, the mean-field limit of the particle
    algorithm that refills every kill from μ_b and pays every clone with a random kill
    (README.md, "Reinjection"), or ``reinjection_deficit``
    U μ − max(V̄_m, 0) μ_b − min(V̄_m, 0) μ/M (DESIGN §1, the limit of refilling only the
    net deficit when many events happen per step), with ⟨U^±⟩ = ∫ max(±U, 0) dμ,
    V̄_m = ∫U dμ = ⟨U⁺⟩ − ⟨U⁻⟩ and M = ∫dμ.  Both conserve mass.
    ``interaction`` is None when K = 0.  ``transport`` False drops the ∇·(μ∇U) term
    (pure birth–death).  ``loss_offset`` turns the energy into the
    network loss ½‖f − f_μ‖² = E + ½‖f‖² for neuron-form cases.
    """

    grid: Grid
    potential: np.ndarray
    interaction: GridInteraction | None = None
    reaction: str = "balanced"
    alpha: float = 1.0
    tau: float = 0.0
    prior: np.ndarray | None = None
    loss_offset: float | None = None
    transport: bool = True

    def __post_init__(self):
        if self.reaction not in REACTIONS:
            raise ValueError(f"reaction must be one of {', '.join(REACTIONS)}, got {self.reaction!r}")
        if self.alpha < 0 or self.tau < 0:
            raise ValueError("alpha and tau must be non-negative")
        self.potential = np.ascontiguousarray(self.potential, dtype=np.float64)
        if self.potential.shape != self.grid.shape:
            raise ValueError(f"potential has shape {self.potential.shape}, grid {self.grid.shape}")
        if self.reaction in REINJECTIONS:
            if self.prior is None:
                raise ValueError("the reinjection reaction needs a prior density")
            prior = np.ascontiguousarray(self.prior, dtype=np.float64)
            if prior.shape != self.grid.shape or np.any(prior < 0) or not np.all(np.isfinite(prior)):
                raise ValueError("prior must be a finite non-negative array of the grid's shape")
            self.prior = prior / self.grid.integrate(prior)

    @property
    def has_reaction(self) -> bool:
        return self.reaction != "none" and self.alpha > 0.0


@dataclass(frozen=True)
class Scheme:
    """Discretisation choices.

    ``order`` 1 (cell values at faces) or 2 (limited linear reconstruction with
    generalised-minmod parameter ``theta``: 1 minmod, 2 monotonised central, 0 the
    extremum-preserving variant, :func:`pdesolve.fv.backends.numba.transport.reconstruction_slope`);
    ``integrator`` ssprk2 or ssprk3 for transport; ``splitting`` strang
    (R(Δt/2) T(Δt) R(Δt/2)) or lie (T(Δt) R(Δt)); Δt = cfl / ν with the stability
    number ν of :meth:`pdesolve.fv.solver.Solver.stability_number`, unless ``dt`` is fixed.
    """

    order: int = 2
    theta: float = 2.0
    integrator: str = "ssprk2"
    splitting: str = "strang"
    cfl: float = 0.5
    dt: float | None = None
    max_steps: int = 10_000_000

    def __post_init__(self):
        if self.order not in (1, 2):
            raise ValueError("order must be 1 or 2")
        if not (self.theta == 0.0 or 1.0 <= self.theta <= 2.0):
            raise ValueError("theta must be 0 (extremum-preserving) or lie in [1, 2]")
        if self.integrator not in ("ssprk2", "ssprk3"):
            raise ValueError("integrator must be ssprk2 or ssprk3")
        if self.splitting not in ("strang", "lie"):
            raise ValueError("splitting must be strang or lie")
        if not 0.0 < self.cfl <= 1.0:
            raise ValueError("cfl must lie in (0, 1]")
        if self.dt is not None and not self.dt > 0:
            raise ValueError("dt must be positive")
