"""Time integration of a :class:`~pdesolve.model.problem.Problem` on its grid.

One step of size Δt with Strang splitting is R(Δt/2) ∘ T(Δt) ∘ R(Δt/2):

* T: transport ∂t μ = ∇·(μ∇V) + τΔμ by an SSP Runge–Kutta method over the upwind
  finite-volume operator, V re-evaluated (F + K⋆μ) at every stage; or, with
  ``scheme.diffusion = "implicit"``, by one backward-Euler Scharfetter–Gummel step with V
  frozen (:mod:`pdesolve.fv.backends.numba.implicit`), which lifts the limit Δt ≤ h²/(2dτ);
* R: reaction with U frozen, solved exactly per cell; the reaction (:mod:`pdesolve.model.reactions`)
  gives the rate's shift s and source q, and the step of a reaction that conserves mass is
  rescaled to the initial mass (round-off then cannot accumulate over steps).  A time-dependent
  α (:mod:`pdesolve.model.schedule`) enters each reaction sub-step over [t₀, t₀ + h] as its mean
  (1/h) ∫ α over that interval, which keeps the step exact for U frozen.

The solver holds the state and the time control; every array operation goes through its
backend (:mod:`pdesolve.fv.backends`, chosen by ``scheme.backend``), which either offers the
step's kernels for the solver to compose (Numba) or compiles the same step whole (JAX).  All work arrays are
allocated once, in the constructor.
"""
from __future__ import annotations

import math

import numpy as np

from ..model.problem import FINITE_N_COUNT, Problem, Scheme
from . import diagnostics
from .backends import make_backend

# Rungs per octave of the implicit diffusion step's Δt (see step_size): at most 9% below cfl / ν.
IMPLICIT_STEP_RUNGS = 8

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


def peak_alpha(alpha, transport: bool, scheme: Scheme, t: float, target: float,
               transport_bound: float) -> float:
    """The peak of the schedule α(t) over the next step from t: over the fixed Δt, or the
    step transport alone allows (cfl / transport bound; ``transport``: whether the problem
    has it), never beyond ``target``."""
    moving = transport and transport_bound > 0
    horizon = scheme.dt or (scheme.cfl / transport_bound if moving else np.inf)
    end = min(t + horizon, target)
    return alpha.peak(t, end if np.isfinite(end) else t)


def step_size(scheme: Scheme, bound: float, t: float) -> float:
    """The step for the stability rate ``bound`` = ν/Δt: the fixed Δt (StabilityError if it
    makes ν > 1), else cfl / bound (inf when nothing moves), which the implicit diffusion
    step rounds down to a power of 2^{1/8} (IMPLICIT_STEP_RUNGS per octave), so that its LU
    factorisations are reused while Δt stays on one rung."""
    if scheme.dt is not None:
        if scheme.dt * bound > 1.0:
            raise StabilityError(
                f"dt = {scheme.dt:g} exceeds the stability limit {1.0 / bound:.4g} "
                f"(stability number {scheme.dt * bound:.3g} > 1) at t = {t:g}")
        return scheme.dt
    if bound == 0.0:
        if scheme.diffusion == "implicit":
            raise StabilityError(f"nothing bounds the implicit step at t = {t:g} (no transport speed and "
                                 "no reaction): give it a fixed dt")
        return np.inf
    if scheme.diffusion == "implicit":
        rung = math.floor(math.log2(scheme.cfl / bound) * IMPLICIT_STEP_RUNGS)
        return 2.0 ** (rung / IMPLICIT_STEP_RUNGS)
    return scheme.cfl / bound


def advance_to(stepper, t_target: float, on_step=None) -> None:
    """Step ``stepper`` (a :class:`Solver` or an ensemble: ``t``, ``steps``, ``scheme``,
    ``stable_dt()``, ``step(dt)``) until its ``t`` reaches ``t_target`` exactly, the last step
    shortened; ``on_step(stepper, dt)`` after every step."""
    while stepper.t < t_target:
        if stepper.steps >= stepper.scheme.max_steps:
            raise StabilityError(f"max_steps = {stepper.scheme.max_steps} reached at t = {stepper.t:g}")
        dt = stepper.stable_dt()
        remaining = t_target - stepper.t
        if dt >= remaining or remaining - dt < 1e-12 * max(1.0, t_target):
            dt = remaining
            stepper.step(dt)
            stepper.t = t_target
        else:
            stepper.step(dt)
        if on_step is not None:
            on_step(stepper, dt)


class Solver:
    """Integrates ``problem`` from the density ``mu0`` with the given ``scheme``.

    ``mu`` is the current density (grid-shaped), ``t`` the time and ``steps`` the number of
    steps taken; ``mass``, ``energy`` and ``U`` are the current ∫dμ, E[μ] and U = δE/δμ.
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
        self.reaction = problem.reaction_model
        self.backend = ops = make_backend(scheme.backend, grid, scheme.order, scheme.theta,
                                          problem.tau, scheme.diffusion)
        self.t = float(t0)
        self.steps = 0
        self._target = np.inf     # where advance() is going: no step bound looks beyond it
        self._mu = ops.from_host(mu0)
        self._stage = ops.empty()
        self._next = ops.empty()
        self._v = ops.empty()
        self._u = self._v if problem.tau == 0.0 else ops.empty()  # U = V when τ = 0
        self._interaction = np.empty(grid.shape)
        self._speeds = np.zeros(3)
        self._f = ops.from_host(problem.potential, copy=False)
        self._conserved_mass = ops.total(self._mu)  # invariant of mass-conserving flows
        self._prior = None if problem.prior is None else ops.from_host(problem.prior, copy=False)
        self._stages = SSP_STAGES[scheme.integrator]
        self._implicit = ops.implicit_stepper() if scheme.diffusion == "implicit" else None
        # n μ_i |cell| / M₀ < FINITE_N_COUNT with M₀ = Σμ₀ |cell|: μ_i < FINITE_N_COUNT Σμ₀ / n
        self._floor = 0.0 if problem.finite_n is None else FINITE_N_COUNT * self._conserved_mass / problem.finite_n
        # a backend that compiles the whole step (JAX) gets it built once, here
        make_step = getattr(ops, "make_step", None)
        self._compiled_step = (None if make_step is None
                               else make_step(problem, scheme, self._stages, self._floor))
        if problem.interaction is None:
            ops.copy(self._f, self._v)
        self._v_is_current = problem.interaction is None  # does _v hold V(μ) for the current μ?
        self._speeds_current = False  # do _speeds hold the face speeds of _v? (kept if V = F)
        self._reaction_depends_on_mu = (problem.interaction is not None or problem.tau > 0
                                        or self.reaction.uses_prior)
        # With U = F for all time (no interaction, τ = 0) a reaction without source whose
        # shift is constant, or whose mass is conserved, multiplies μ by factors
        # exp(−αΔt(F − s₀)) that change only with Δt: they are kept for the last αΔt.  s₀ is
        # the constant shift or, when mass is conserved, the middle of F's range: any
        # constant shift gives the same step after the rescale to the conserved mass, and
        # this one keeps |αΔt(F − s₀)| ≤ αΔt (max F − min F)/2.
        reaction = self.reaction
        self._fixed_factors = (problem.interaction is None and problem.tau == 0.0
                               and problem.has_reaction and not reaction.uses_prior
                               and (reaction.conserves_mass or reaction.constant_shift))
        self._factors = ops.empty() if self._fixed_factors else None
        self._factors_rate_dt = None
        self._factor_shift = 0.0
        self._factor_half_range = 0.0
        if self._fixed_factors and reaction.conserves_mass:
            low, high = ops.extrema(self._f)
            self._factor_shift = 0.5 * (high + low)
            self._factor_half_range = 0.5 * (high - low)
        elif self._fixed_factors:
            self._factor_shift, _ = reaction.rate_parameters(ops, self._mu, self._f,
                                                             grid.cell_volume)

    # -- state -------------------------------------------------------------------
    @property
    def mu(self) -> np.ndarray:
        """Current density, grid-shaped: a view of an internal buffer that the next step
        overwrites or replaces (copy it to keep it)."""
        return self.backend.to_host(self._mu)

    @property
    def mass(self) -> float:
        """∫ dμ of the current density (midpoint rule)."""
        return self.problem.grid.integrate(self.mu)

    @property
    def energy(self) -> float:
        """E[μ] = ∫F dμ + ½∫∫K dμdμ + τ∫μ log μ of the current density."""
        return diagnostics.energy(self)

    @property
    def U(self) -> np.ndarray:
        """U = F + K⋆μ + τ(log μ + 1) = δE/δμ at the current density (a new grid array)."""
        with self.backend.threads():
            self._refresh_potential()
            if self._u is not self._v:
                self.backend.total_potential(self._v, self._mu, self._u)
        return self.backend.to_host(self._u).copy()

    def potential(self, mu: np.ndarray | None = None) -> np.ndarray:
        """V = F + K ⋆ μ on the grid (a new array), for μ = the current density by default
        (then evaluated only if μ changed since the last evaluation)."""
        if mu is None:
            with self.backend.threads():
                self._refresh_potential()
            return self.backend.to_host(self._v).copy()
        flat = self.backend.from_host(mu)
        out = self.backend.empty()
        self._evaluate_potential(flat, out)
        return self.backend.to_host(out)

    def _evaluate_potential(self, mu: np.ndarray, out: np.ndarray) -> None:
        """out = F + K ⋆ μ (flat arrays)."""
        interaction = self.problem.interaction
        if interaction is None:
            if out is not self._v:
                self.backend.copy(self._f, out)
            return
        self.backend.potential(self._f, interaction, mu, self._interaction, out)

    def state(self) -> dict:
        """Everything the future of the run depends on: μ, t, steps and the conserved mass."""
        return {"mu": self.mu.copy(), "t": self.t, "steps": self.steps,
                "conserved_mass": self._conserved_mass}

    def restore(self, state: dict) -> None:
        """Continue from a :meth:`state`; the run then proceeds bit for bit as it would have."""
        self.backend.copy(self.backend.from_host(np.asarray(state["mu"], dtype=np.float64)), self._mu)
        self.t = float(state["t"])
        self.steps = int(state["steps"])
        self._conserved_mass = float(state["conserved_mass"])
        self._v_is_current = self.problem.interaction is None

    # -- time step ---------------------------------------------------------------
    def _refresh_potential(self) -> None:
        """Make _v hold V(μ) for the current μ, evaluating it only if μ changed since."""
        if not self._v_is_current:
            self._evaluate_potential(self._mu, self._v)
            self._v_is_current = True

    def _rate_bound(self) -> float:
        """ν / Δt = Σ_a 2 max|u_a| / h_a + 2τ Σ_a 1/h_a² + α max_{μ>0} |U − s| at the current
        state (V and U are refreshed as a side effect).

        ν ≤ 1 keeps the forward-Euler transport stage positive (Carrillo–Chertock–Huang:
        Δt ≤ h / (2 max|u|) in 1-D); the reaction term bounds the splitting error, with α
        the peak of α(t) over the step that transport alone would allow.  With the implicit
        diffusion step the τ term is absent (the backend's rate has none), and a fixed Δt is
        bounded by the reaction term alone: that step is stable and positive for any Δt.
        """
        ops = self.backend
        self._refresh_potential()
        bound = 0.0
        if self._speeds_current:
            transport_bound = ops.speeds_rate_bound(self._speeds)
        else:
            transport_bound = ops.transport_rate_bound(self._v, self._speeds)
            self._speeds_current = self.problem.interaction is None
        if self.problem.transport and not (self.scheme.diffusion == "implicit" and self.scheme.dt):
            bound += transport_bound
        if self.problem.has_reaction:
            shift, _ = self._refresh_reaction_potential()
            alpha = peak_alpha(self.problem.alpha, self.problem.transport, self.scheme, self.t,
                               self._target, transport_bound)
            bound += alpha * ops.max_rate(self._mu, self._u, shift)
        return bound

    def stable_dt(self) -> float:
        """The step the scheme takes next: fixed Δt, or cfl / (ν/Δt).  Raises StabilityError
        when a fixed Δt makes ν > 1."""
        with self.backend.threads():
            bound = self._rate_bound()
        return step_size(self.scheme, bound, self.t)

    def step(self, dt: float) -> None:
        """Advance the state by Δt = ``dt`` (no stability check: see :meth:`stable_dt`)."""
        if self._compiled_step is not None:
            self._compiled_step(self._mu, self._v if self._v_is_current else None, self.t, dt,
                                self._conserved_mass)
            self._v_is_current = self.problem.interaction is None
            self.t += dt
            self.steps += 1
            return
        with self.backend.threads(timed=True):
            if self.scheme.splitting == "strang":
                self._react(self.t, 0.5 * dt)
                self._transport(dt)
                self._react(self.t + 0.5 * dt, 0.5 * dt)
            else:
                self._transport(dt)
                self._react(self.t, dt)
            if self._floor:
                self._empty_below_floor()
        self.t += dt
        self.steps += 1

    def advance(self, t_target: float, on_step=None) -> None:
        """Step until ``t`` reaches ``t_target`` exactly (the last step is shortened).

        ``on_step(solver, dt)`` is called after every step.
        """
        self._target = t_target
        advance_to(self, t_target, on_step)

    # -- operators ---------------------------------------------------------------
    def _transport(self, dt: float) -> None:
        """μ ← T(Δt) μ by the SSP Runge–Kutta stages of the scheme, or by one implicit step
        with V frozen at the current μ (``scheme.diffusion`` implicit)."""
        if not self.problem.transport:
            return
        if self.scheme.diffusion == "implicit":
            self._refresh_potential()
            self._implicit.step(self._mu, self._v, dt, self._stage)
            self._mu, self._stage = self._stage, self._mu
            self._v_is_current = self.problem.interaction is None
            return
        base = self._mu
        current = self._mu
        targets = [self._stage, self._next]
        for index, (weight_base, weight_stage) in enumerate(self._stages):
            out = targets[index % 2]
            if current is self._mu:
                self._refresh_potential()
            else:
                self._evaluate_potential(current, self._v)
            self.backend.transport_stage(current, self._v, base, weight_base, weight_stage, dt, out)
            current = out
        # The last stage's buffer becomes μ and μ's old buffer a work buffer: no copy.
        targets[0 if current is targets[0] else 1] = self._mu
        self._mu = current
        self._stage, self._next = targets
        self._v_is_current = self.problem.interaction is None

    def _empty_below_floor(self) -> None:
        """μ_i ← 0 where n μ_i |cell| / M₀ < FINITE_N_COUNT (``problem.finite_n`` = n), then
        the mass rescaled to M₀ if the reaction conserves it."""
        self._restore_mass(self.backend.zero_below(self._mu, self._floor))

    def _restore_mass(self, mass_after: float) -> None:
        """After μ changed to total ``mass_after``: rescale to the conserved mass if the
        reaction conserves it; V is stale unless it is F alone."""
        if self.reaction.conserves_mass and mass_after > 0:
            self.backend.scale(self._mu, self._conserved_mass / mass_after)
        self._v_is_current = self.problem.interaction is None

    def _refresh_reaction_potential(self, mu: np.ndarray | None = None) -> tuple[float, float]:
        """Set U = V + τ(log μ + 1) from _v and μ (the current density by default); return
        the reaction's shift s and source q of the rate −α(U − s)μ + αqμ_b."""
        mu = self._mu if mu is None else mu
        if self._u is not self._v:
            self.backend.total_potential(self._v, mu, self._u)
        return self.reaction.rate_parameters(self.backend, mu, self._u,
                                             self.problem.grid.cell_volume)

    def _apply_reaction(self, mu: np.ndarray, shift: float, source: float, alpha: float,
                        dt: float) -> float:
        """μ ← μ e^{−αΔt(U − s)} (+ the μ_b source), the exact step with U, s, q frozen;
        returns Σμ after the step."""
        if self.reaction.uses_prior:
            return self.backend.reinjection_reaction(mu, self._u, self._prior, shift, source,
                                                     alpha, dt)
        return self.backend.exponential_reaction(mu, self._u, shift, alpha * dt)

    def _react(self, t0: float, dt: float) -> None:
        """μ ← R(Δt) μ over [t₀, t₀ + Δt], second order in Δt, with α its mean over the interval.

        When U, s or q depend on μ (interaction, τ > 0, a prior source) they are frozen at
        the midpoint state μ* = R_frozen(Δt/2) μ (midpoint rule); otherwise the frozen step
        is already exact (up to a constant shift, removed by the rescale when mass is
        conserved), and with U = F it is μ ← μ exp(−αΔt(F − s₀)) with factors kept from the
        last step of the same αΔt (see the constructor)."""
        problem = self.problem
        if not problem.has_reaction:
            return
        ops = self.backend
        alpha = problem.alpha.mean(t0, dt)
        if alpha == 0.0:
            return
        rate_dt = alpha * dt
        if self._fixed_factors and rate_dt * self._factor_half_range <= MAX_FACTOR_EXPONENT:
            if rate_dt != self._factors_rate_dt:
                ops.exponential_factors(self._u, self._factor_shift, rate_dt, self._factors)
                self._factors_rate_dt = rate_dt
            mass_after = ops.multiply(self._mu, self._factors)
        else:
            self._refresh_potential()
            shift, source = self._refresh_reaction_potential()
            if self._reaction_depends_on_mu:
                ops.copy(self._mu, self._stage)
                self._apply_reaction(self._stage, shift, source, problem.alpha.mean(t0, 0.5 * dt), 0.5 * dt)
                self._evaluate_potential(self._stage, self._v)
                shift, source = self._refresh_reaction_potential(self._stage)
            mass_after = self._apply_reaction(self._mu, shift, source, alpha, dt)
        self._restore_mass(mass_after)

    # -- diagnostics support -------------------------------------------------------
    def rates(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(U, transport rate, reaction rate) at the current state, grid-shaped new arrays.

        Transport rate −Σ_a δΦ_a/h_a; reaction rate −α(U − s)μ (+ αqμ_b with a prior source),
        α = α(t) now, s and q from the reaction's ``rate_parameters``.
        """
        problem = self.problem
        ops = self.backend
        transport = ops.empty()
        with ops.threads():
            self._refresh_potential()
            shift, source = self._refresh_reaction_potential()
            if problem.transport:
                ops.transport_rate(self._mu, self._v, transport)
        mu, u = ops.to_host(self._mu), ops.to_host(self._u).copy()
        transport = ops.to_host(transport) if problem.transport else np.zeros_like(mu)
        if not problem.has_reaction:
            reaction = np.zeros_like(mu)
        else:
            alpha = problem.alpha.value_at(self.t)
            reaction = -alpha * (u - shift) * mu
            if self.reaction.uses_prior:
                reaction += alpha * source * problem.prior
        return u, transport, reaction
