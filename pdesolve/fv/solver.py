"""Time integration of a :class:`~pdesolve.model.problem.Problem` on its grid.

One step of size Δt with Strang splitting is R(Δt/2) ∘ T(Δt) ∘ R(Δt/2):

* T: transport ∂t μ = ∇·(μ∇V) + τΔμ by an SSP Runge–Kutta method over the
  upwind finite-volume operator of :mod:`pdesolve.fv.backends.numba.transport`, V re-evaluated
  (F + K⋆μ) at every stage;
* R: reaction with U frozen, solved exactly per cell (:mod:`pdesolve.fv.backends.numba.reaction`);
  balanced and reinjection reactions conserve mass, so the step is rescaled to the
  initial mass (round-off then cannot accumulate over steps).

All work arrays are allocated once, in the constructor.
"""
from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np

from .backends.numba import reaction as rk
from .backends.numba import transport as tk

# Below this many cells a second thread gains nothing, and on a shared machine waiting
# for it costs milliseconds per kernel call (measured: 24 s instead of 1.6 s for a 64²
# run with the other core busy), so small grids run the kernels on one thread.
PARALLEL_MIN_CELLS = 1 << 16
from ..model.problem import REINJECTIONS, Problem, Scheme

# Largest |exponent| of the kept reaction factors exp(−αΔt(F − s₀)) (e^±50 keeps μ e^x
# normal for μ > 1e-286); beyond it the step centres the exponent on the current Ū.
MAX_FACTOR_EXPONENT = 50.0

# SSP Runge–Kutta tableaux in Shu–Osher form: stage s is
# μ^(s) = a_s μ^(0) + b_s (μ^(s−1) + Δt L(μ^(s−1))).
SSP_STAGES = {
    "ssprk2": ((0.0, 1.0), (0.5, 0.5)),
    "ssprk3": ((0.0, 1.0), (0.75, 0.25), (1.0 / 3.0, 2.0 / 3.0)),
}


class StabilityError(RuntimeError):
    """A fixed Δt exceeds the scheme's stability limit."""


class Solver:
    """Integrates ``problem`` from the density ``mu0`` with the given ``scheme``.

    ``mu`` is the current density (grid-shaped view of an internal buffer), ``t`` the
    time and ``steps`` the number of steps taken.
    """

    def __init__(self, problem: Problem, scheme: Scheme, mu0: np.ndarray, t0: float = 0.0):
        grid = problem.grid
        mu0 = np.asarray(mu0, dtype=np.float64)
        if mu0.shape != grid.shape:
            raise ValueError(f"initial density has shape {mu0.shape}, grid {grid.shape}")
        if not np.all(np.isfinite(mu0)) or np.any(mu0 < 0):
            raise ValueError("initial density must be finite and non-negative")
        self.problem = problem
        self.scheme = scheme
        self.t = float(t0)
        self.steps = 0
        size = grid.size
        self._mu = np.ascontiguousarray(mu0).reshape(size).copy()
        self._stage = np.empty(size)
        self._next = np.empty(size)
        self._v = np.empty(size)
        self._u = self._v if problem.tau == 0.0 else np.empty(size)  # U = V when τ = 0
        self._interaction = np.empty(grid.shape)
        self._speeds = np.zeros(3)
        self._f = problem.potential.reshape(size)
        self._conserved_mass = float(np.sum(self._mu))  # invariant of balanced/reinjection flows
        self._prior = None if problem.prior is None else problem.prior.reshape(size)
        self._shape = np.array(grid.cells + (1,) * (3 - grid.ndim), dtype=np.int64)
        self._periodic = np.array(grid.periodic + (False,) * (3 - grid.ndim))
        self._inv_h = np.array([1.0 / h for h in grid.spacing] + [1.0] * (3 - grid.ndim))
        self._single_thread = size < PARALLEL_MIN_CELLS
        self._stages = SSP_STAGES[scheme.integrator]
        self._second_order = scheme.order == 2
        self._diffusion_number = 2.0 * problem.tau * float(np.sum(self._inv_h[: grid.ndim] ** 2))
        if problem.interaction is None:
            self._v[:] = self._f
        self._v_is_current = problem.interaction is None  # does _v hold V(μ) for the current μ?
        self._speeds_current = False  # do _speeds hold the face speeds of _v? (kept if V = F)
        self._reaction_depends_on_mu = (problem.interaction is not None or problem.tau > 0
                                        or problem.reaction in REINJECTIONS)
        # With U = F for all time (no interaction, τ = 0) the balanced and unbalanced
        # reactions multiply μ by factors exp(−αΔt(F − s₀)) that change only with Δt: they
        # are kept for the last αΔt.  s₀ is 0 (unbalanced) or, for balanced, the middle of
        # F's range: any constant shift gives the same step after the rescale to the
        # conserved mass, and this one keeps |αΔt(F − s₀)| ≤ αΔt (max F − min F)/2.
        self._fixed_factors = (problem.interaction is None and problem.tau == 0.0
                               and problem.reaction in ("balanced", "unbalanced"))
        self._factors = np.empty(size) if self._fixed_factors else None
        self._factors_rate_dt = None
        self._factor_shift = 0.0
        self._factor_half_range = 0.0
        if self._fixed_factors and problem.reaction == "balanced":
            self._factor_shift = 0.5 * (float(self._f.max()) + float(self._f.min()))
            self._factor_half_range = 0.5 * (float(self._f.max()) - float(self._f.min()))

    # -- state -------------------------------------------------------------------
    @property
    def mu(self) -> np.ndarray:
        """Current density, grid-shaped: a view of an internal buffer that the next step
        overwrites or replaces (copy it to keep it)."""
        return self._mu.reshape(self.problem.grid.shape)

    def potential(self, mu: np.ndarray | None = None) -> np.ndarray:
        """V = F + K ⋆ μ on the grid (a new array), for μ = the current density by default."""
        flat = self._mu if mu is None else np.ascontiguousarray(mu, dtype=np.float64).reshape(-1)
        out = np.empty_like(flat)
        self._evaluate_potential(flat, out)
        return out.reshape(self.problem.grid.shape)

    def _evaluate_potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        """out = F + K ⋆ μ (flat arrays)."""
        interaction = self.problem.interaction
        if interaction is None:
            if out is not self._v:
                out[:] = self._f
            return
        interaction.potential(mu.reshape(self.problem.grid.shape), self._interaction)
        np.add(self._f, self._interaction.reshape(-1), out=out)

    def state(self) -> dict:
        """Everything the future of the run depends on: μ, t, steps and the conserved mass."""
        return {"mu": self.mu.copy(), "t": self.t, "steps": self.steps,
                "conserved_mass": self._conserved_mass}

    def restore(self, state: dict) -> None:
        """Continue from a :meth:`state`; the run then proceeds bit for bit as it would have."""
        self._mu[:] = np.asarray(state["mu"], dtype=np.float64).reshape(-1)
        self.t = float(state["t"])
        self.steps = int(state["steps"])
        self._conserved_mass = float(state["conserved_mass"])
        self._v_is_current = self.problem.interaction is None

    # -- time step ---------------------------------------------------------------
    def stability_number(self, dt: float) -> float:
        """ν = Δt (Σ_a 2 max|u_a| / h_a + 2τ Σ_a 1/h_a² + α max_{μ>0} |U − s|) at the current state.

        ν ≤ 1 keeps the forward-Euler transport stage positive (Carrillo–Chertock–Huang:
        Δt ≤ h / (2 max|u|) in 1-D); the reaction term bounds the splitting error.
        """
        return dt * self._rate_bound()

    def _refresh_potential(self) -> None:
        """Make _v hold V(μ) for the current μ, evaluating it only if μ changed since."""
        if not self._v_is_current:
            self._evaluate_potential(self._mu, self._v)
            self._v_is_current = True

    def _rate_bound(self) -> float:
        """ν / Δt for the current state (V and U are refreshed as a side effect)."""
        self._refresh_potential()
        if not self._speeds_current:
            tk.max_face_speeds(self._v, self._shape, self._periodic, self._inv_h, self._speeds)
            self._speeds_current = self.problem.interaction is None
        bound = 0.0
        if self.problem.transport:
            bound += 2.0 * float(np.dot(self._speeds, self._inv_h)) + self._diffusion_number
        if self.problem.has_reaction:
            shift, _ = self._refresh_reaction_potential()
            bound += self.problem.alpha * rk.max_rate(self._mu, self._u, shift)
        return bound

    @contextmanager
    def _threads(self):
        """Run the enclosed kernels on one Numba thread for small grids."""
        if not self._single_thread:
            yield
            return
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            yield
        finally:
            numba.set_num_threads(previous)

    def stable_dt(self) -> float:
        """The step the scheme takes next: fixed Δt, or cfl / (ν/Δt).  Raises StabilityError
        when a fixed Δt makes ν > 1."""
        with self._threads():
            bound = self._rate_bound()
        if self.scheme.dt is not None:
            if self.scheme.dt * bound > 1.0:
                raise StabilityError(
                    f"dt = {self.scheme.dt:g} exceeds the stability limit {1.0 / bound:.4g} "
                    f"(stability number {self.scheme.dt * bound:.3g} > 1) at t = {self.t:g}")
            return self.scheme.dt
        if bound == 0.0:
            return np.inf
        return self.scheme.cfl / bound

    def step(self, dt: float) -> None:
        """Advance the state by Δt = ``dt`` (no stability check: see :meth:`stable_dt`)."""
        with self._threads():
            if self.scheme.splitting == "strang":
                self._react(0.5 * dt)
                self._transport(dt)
                self._react(0.5 * dt)
            else:
                self._transport(dt)
                self._react(dt)
        self.t += dt
        self.steps += 1

    def advance(self, t_target: float, on_step=None) -> None:
        """Step until ``t`` reaches ``t_target`` exactly (the last step is shortened).

        ``on_step(solver, dt)`` is called after every step.
        """
        while self.t < t_target:
            if self.steps >= self.scheme.max_steps:
                raise StabilityError(f"max_steps = {self.scheme.max_steps} reached at t = {self.t:g}")
            dt = self.stable_dt()
            remaining = t_target - self.t
            if dt >= remaining or remaining - dt < 1e-12 * max(1.0, t_target):
                dt = remaining
                self.step(dt)
                self.t = t_target
            else:
                self.step(dt)
            if on_step is not None:
                on_step(self, dt)

    # -- operators ---------------------------------------------------------------
    def _transport(self, dt: float) -> None:
        """μ ← T(Δt) μ by the SSP Runge–Kutta stages of the scheme."""
        if not self.problem.transport:
            return
        tau = self.problem.tau
        theta = self.scheme.theta
        base = self._mu
        current = self._mu
        targets = [self._stage, self._next]
        for index, (weight_base, weight_stage) in enumerate(self._stages):
            out = targets[index % 2]
            if current is self._mu:
                self._refresh_potential()
            else:
                self._evaluate_potential(current, self._v)
            tk.transport_stage(current, self._v, base, weight_base, weight_stage, dt,
                               self._shape, self._periodic, self._inv_h, theta,
                               self._second_order, tau, out)
            current = out
        # The last stage's buffer becomes μ and μ's old buffer a work buffer: no copy.
        targets[0 if current is targets[0] else 1] = self._mu
        self._mu = current
        self._stage, self._next = targets
        self._v_is_current = self.problem.interaction is None

    def _refresh_reaction_potential(self, mu: np.ndarray | None = None) -> tuple[float, float]:
        """Set U = V + τ(log μ + 1) from _v and μ (the current density by default); return
        the shift s and the source q of the reaction rate −α(U − s)μ + αqμ_b:

        * balanced: s = Ū, q = 0;  unbalanced and none: s = q = 0;
        * reinjection: s = −⟨U⁻⟩/M, q = ⟨U⁺⟩ with ⟨U^±⟩ = ∫ max(±U, 0) dμ, M = ∫dμ;
        * reinjection_deficit: s = min(V̄_m, 0)/M, q = max(V̄_m, 0) with V̄_m = ∫U dμ.
        """
        problem = self.problem
        mu = self._mu if mu is None else mu
        if self._u is not self._v:
            rk.total_potential(self._v, mu, problem.tau, self._u)
        if problem.reaction == "reinjection":
            mass, positive, negative = rk.signed_moment_sums(mu, self._u)
            volume = problem.grid.cell_volume
            return (-negative / mass if mass > 0 else 0.0), positive * volume
        mass, first = rk.moment_sums(mu, self._u)
        if problem.reaction == "balanced":
            return (first / mass if mass > 0 else 0.0), 0.0
        if problem.reaction == "reinjection_deficit":
            v_bar_m = first * problem.grid.cell_volume
            total = mass * problem.grid.cell_volume
            return (min(v_bar_m, 0.0) / total if total > 0 else 0.0), max(v_bar_m, 0.0)
        return 0.0, 0.0

    def _apply_reaction(self, mu: np.ndarray, shift: float, source: float, dt: float) -> float:
        """μ ← μ e^{−αΔt(U − s)} (+ the μ_b source), the exact step with U, s, q frozen;
        returns Σμ after the step."""
        problem = self.problem
        if problem.reaction in REINJECTIONS:
            return rk.reinjection_reaction(mu, self._u, self._prior, shift, source,
                                           problem.alpha, dt)
        return rk.exponential_reaction(mu, self._u, shift, problem.alpha * dt)

    def _react(self, dt: float) -> None:
        """μ ← R(Δt) μ, second order in Δt.

        When U, s or q depend on μ (interaction, τ > 0, reinjection) they are frozen at the
        midpoint state μ* = R_frozen(Δt/2) μ (midpoint rule); otherwise the frozen step is
        already exact (balanced: up to the constant shift, removed by the rescale), and
        with U = F it is μ ← μ exp(−αΔt(F − s₀)) with factors kept from the last step of
        the same αΔt (see the constructor)."""
        problem = self.problem
        if not problem.has_reaction:
            return
        rate_dt = problem.alpha * dt
        if self._fixed_factors and rate_dt * self._factor_half_range <= MAX_FACTOR_EXPONENT:
            if rate_dt != self._factors_rate_dt:
                rk.exponential_factors(self._u, self._factor_shift, rate_dt, self._factors)
                self._factors_rate_dt = rate_dt
            mass_after = rk.multiply(self._mu, self._factors)
        else:
            self._refresh_potential()
            shift, source = self._refresh_reaction_potential()
            if self._reaction_depends_on_mu:
                self._stage[:] = self._mu
                self._apply_reaction(self._stage, shift, source, 0.5 * dt)
                self._evaluate_potential(self._stage, self._v)
                shift, source = self._refresh_reaction_potential(self._stage)
            mass_after = self._apply_reaction(self._mu, shift, source, dt)
        if problem.reaction in ("balanced",) + REINJECTIONS and mass_after > 0:
            rk.scale(self._mu, self._conserved_mass / mass_after)
        self._v_is_current = problem.interaction is None

    # -- diagnostics support -------------------------------------------------------
    def rates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(U, transport rate, reaction rate) at the current state, grid-shaped new arrays.

        Transport rate −Σ_a δΦ_a/h_a; reaction rate −α(U − Ū)μ, −αUμ, 0, or
        −α(U − s)μ + αqμ_b for the reinjection variants (see _refresh_reaction_potential).
        """
        problem = self.problem
        shape = problem.grid.shape
        transport = np.zeros_like(self._mu)
        with self._threads():
            self._refresh_potential()
            shift, source = self._refresh_reaction_potential()
            if problem.transport:
                tk.transport_rhs(self._mu, self._v, self._shape, self._periodic, self._inv_h,
                                 self.scheme.theta, self._second_order, problem.tau, transport)
        if not problem.has_reaction:
            reaction = np.zeros_like(self._mu)
        else:
            reaction = -problem.alpha * (self._u - shift) * self._mu
            if problem.reaction in REINJECTIONS:
                reaction += problem.alpha * source * self._prior
        return self._u.reshape(shape).copy(), transport.reshape(shape), reaction.reshape(shape)
