"""The implicit transport–diffusion step (``scheme.diffusion = "implicit"``): one backward-Euler
step of the linear Fokker–Planck equation ∂t μ = ∇·(τ∇μ + μ∇V) with V frozen at the start of
the step, in the Scharfetter–Gummel (exponentially fitted) finite-volume form.

The flux through the face between cells i and j = i + e_a (spacing h) is

    Φ_ij = (τ/h) [B(δ) μ_i − B(−δ) μ_j],    δ = (V_j − V_i)/τ,    B(x) = x / (eˣ − 1),

so that dμ/dt = A μ with A_ji = (τ/h²) B(δ) ≥ 0 (cell i to j), A_ij = (τ/h²) B(−δ) ≥ 0, and every
column of A summing to zero; no-flux ends have no face, a periodic axis has the face between
its last and first cells.  The step solves (I − Δt A) μ¹ = μ⁰.  For every Δt:

* I − Δt A is a column diagonally dominant M-matrix: μ¹ ≥ 0 (the elimination without
  pivoting, in a symmetric ordering, adds only non-negative terms, so this holds in floating
  point as well), and 1ᵀμ¹ = 1ᵀμ⁰ (mass, to round-off);
* A π = 0 for π_i ∝ exp(−V_i/τ) (Φ_ij = 0 when μ_j/μ_i = e^{−δ}) with detailed balance, so the
  discrete Gibbs state is the fixed point for any Δt and the relative entropy
  Σ μ log(μ/π) — with V = F the discrete free energy Σ (F μ + τ μ log μ)|cell| up to a
  constant — decreases at every step (Bailo, Carrillo, Murakawa & Schmidtchen 2020 prove the
  same for their implicit upwind scheme).

The step is first order in Δt; B tends to the first-order upwind flux where τ/h ≪ |∇V| and to
the centred diffusion flux where τ/h ≫ |∇V|.  Each solver's own instance keeps the sparse LU
factorisations (SuperLU) of I − Δt A for its last KEPT_FACTORS Δt while V stays the same (no
interaction: V = F), so a run with a fixed Δt factorises once, plus once for a step shortened
to an output time, and otherwise does one pair of triangular solves per step.  Unlike the
explicit kernels the step allocates: SuperLU's solve returns a new array, and a new V builds a
new matrix and factorisation.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ....model.grid import Grid

SMALL_EXPONENT = 1e-8   # below this |x|, B(x) = 1 − x/2 to the last bit (x²/12 < 1e-17)
KEPT_FACTORS = 2        # factorisations kept for one V: a fixed Δt and the step shortened to an
                        # output time (measured 41 MB each at 256², 189 MB at 32³)


def bernoulli(x: np.ndarray) -> np.ndarray:
    """B(x) = x / (eˣ − 1), B(0) = 1 (a new array; exact to round-off for every x)."""
    x = np.asarray(x, dtype=np.float64)
    small = np.abs(x) < SMALL_EXPONENT
    safe = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):
        value = safe / np.expm1(safe)
    return np.where(small, 1.0 - 0.5 * x, value)


def _faces(grid: Grid) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Per axis, the flat indices (i, j = i + e_a) of the cells on each side of every interior
    face (and of the wrap-around face of a periodic axis), and 1/h_a²."""
    index = np.arange(grid.size).reshape(grid.shape)
    faces = []
    for axis, (cells, h, periodic) in enumerate(zip(grid.cells, grid.spacing, grid.periodic)):
        if cells < 2:
            continue
        upper = np.roll(index, -1, axis=axis) if periodic else np.delete(index, 0, axis=axis)
        lower = index if periodic else np.delete(index, cells - 1, axis=axis)
        faces.append((lower.reshape(-1), upper.reshape(-1), 1.0 / h ** 2))
    return faces


class ImplicitFokkerPlanck:
    """Backward-Euler Scharfetter–Gummel steps on ``grid`` with diffusion τ > 0."""

    def __init__(self, grid: Grid, tau: float):
        if not tau > 0:
            raise ValueError("the implicit diffusion step needs tau > 0")
        self.grid = grid
        self.tau = tau
        self._faces = _faces(grid)
        self._factors: dict[float, object] = {}   # Δt → SuperLU of I − Δt A(V), oldest first
        self._factor_v = np.full(grid.size, np.nan)

    def generator(self, v: np.ndarray) -> sp.csc_array:
        """A(V): dμ/dt = A μ is the Scharfetter–Gummel discretisation of ∇·(τ∇μ + μ∇V)."""
        rows, columns, values = [], [], []
        out_rate = np.zeros(self.grid.size)
        for lower, upper, inv_h2 in self._faces:
            delta = (v[upper] - v[lower]) / self.tau
            to_upper = self.tau * inv_h2 * bernoulli(delta)     # rate lower → upper
            to_lower = self.tau * inv_h2 * bernoulli(-delta)    # rate upper → lower
            rows += [upper, lower]
            columns += [lower, upper]
            values += [to_upper, to_lower]
            np.add.at(out_rate, lower, to_upper)
            np.add.at(out_rate, upper, to_lower)
        diagonal = np.arange(self.grid.size)
        rows.append(diagonal)
        columns.append(diagonal)
        values.append(-out_rate)
        return sp.csc_array((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                            shape=(self.grid.size, self.grid.size))

    def rate(self, mu: np.ndarray, v: np.ndarray, out: np.ndarray) -> None:
        """out = A(V) μ, the semi-discrete rate of the implicit scheme's operator."""
        out[:] = self.generator(v) @ mu

    def step(self, mu: np.ndarray, v: np.ndarray, dt: float, out: np.ndarray) -> None:
        """out = (I − Δt A(V))⁻¹ μ, rescaled to Σ out = Σ μ (the solve's round-off grows with
        the condition number, ~ Δt max|A_ii|, and the exact step conserves the sum); the
        factorisations of the last KEPT_FACTORS Δt are reused while V is unchanged."""
        if not np.array_equal(v, self._factor_v):
            self._factors.clear()
            self._factor_v[:] = v
        factor = self._factors.get(dt)
        if factor is None:
            matrix = sp.identity(self.grid.size, format="csc") - dt * self.generator(v)
            # a symmetric ordering and the diagonal as pivot keep the elimination's terms
            # non-negative (see the module docstring); the diagonal dominance makes it stable
            factor = splu(matrix, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                          options={"SymmetricMode": True})
            if len(self._factors) == KEPT_FACTORS:
                del self._factors[next(iter(self._factors))]
            self._factors[dt] = factor
        out[:] = factor.solve(mu)
        after = float(np.sum(out))
        if after > 0:
            out *= float(np.sum(mu)) / after
