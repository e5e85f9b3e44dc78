"""V(θ_i) = F(θ_i) + Σ_j w_j K(θ_i, θ_j) at particles, and ∇V (seed (9), (21), (24))."""
from __future__ import annotations

import numpy as np

from ..model.potentials import Potential
from .interaction import DirectInteraction, MeshInteraction


class ParticlePotential:
    """F from a :class:`~pdesolve.model.potentials.Potential` plus an optional particle interaction.

    With equal weights w_j = M/n this is V(θ_i) = F(θ_i) + (M/n) Σ_j K(θ_i, θ_j).
    ``evaluate`` also leaves the interaction part alone in ``self.interaction_values``
    (for the energy ½ Σ_i w_i V_int,i).
    """

    def __init__(self, potential: Potential, interaction: DirectInteraction | MeshInteraction | None,
                 n: int):
        self.potential = potential
        self.interaction = interaction
        self.interaction_values = np.zeros(n)
        self._interaction_gradient = np.zeros((n, potential.ndim))

    def evaluate(self, positions: np.ndarray, weights: np.ndarray, values: np.ndarray,
                 gradient: np.ndarray) -> None:
        """values_i = V(θ_i), gradient_i = ∇V(θ_i) for positions (n, d), weights (n,)."""
        coords = positions.T
        values[:] = self.potential(*coords)
        for a, g in enumerate(self.potential.gradient(*coords)):
            gradient[:, a] = g
        if self.interaction is None:
            self.interaction_values[:] = 0.0
            return
        self.interaction.evaluate(positions, weights, self.interaction_values,
                                  self._interaction_gradient)
        values += self.interaction_values
        gradient += self._interaction_gradient
