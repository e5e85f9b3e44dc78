"""The particle method's fluctuations about the grid PDE from the linearised equation
(seed Prop. 5.2): the limiting variance of ⟨φ, ωⁿ_t⟩, ωⁿ = √n (μⁿ_t − μ_t).

The seed states the result and defers the equation to its Appendix G, which our copy
does not have; what follows is derived for the algorithm pdesolve runs (README.md,
"Fluctuations about the mean field").  For the balanced reaction (and for none) the mass
M = ∫dμ is fixed and ⟨1, ω⟩ = 0.  To first order ω solves dω = L_t ω dt + dN_t, with
L_t the linearisation at μ_t of G(μ) = ∇·(μ∇V) − α(V − V̄)μ (V = F + K⋆μ, V̄ = ⟨V, μ⟩/M),

    L_t ω = ∇·(ω∇V + μ∇(K⋆ω)) − αṼω − α(K⋆ω)μ + (α/M)⟨W, ω⟩μ,   Ṽ = V − V̄,  W = F + 2K⋆μ,

and N_t the martingale of the birth–death events (the gradient flow adds no noise).  The
backward equation  ∂_s ψ = −L*_s ψ  on [0, t], ψ(t) = φ_t, with the adjoint::

    L*ψ = −∇V·∇ψ + K⋆(∇·(μ∇ψ)) − αṼψ − αK⋆(ψμ) + (α/M)⟨ψ, μ⟩ W      (K symmetric;
                                                   no ∇ terms without transport),

makes ⟨ψ(s), ω_s⟩ a martingale, so

    Var⟨φ, ω_t⟩ = M Var_{μ₀}(ψ(0)) + M ∫₀ᵗ [q_s(ψ) + κ_s r_s(ψ)] ds,

Var_μ(ψ) = ∫(ψ − ψ̄)² dμ, ψ̄ = ⟨ψ, μ⟩/M (the first term: n i.i.d. draws from μ₀/M; the
factor M: each particle carries mass M/n, so an event moves ⟨ψ, ω⟩ by (M/√n)(ψ − ψ̄)), and
two sources, both ∝ α|Ṽ|μ_t as the seed says::

    q_s(ψ) = α ∫|Ṽ| (ψ − ψ̄)² dμ        each kill or duplication (recentred by the restore),
    r_s(ψ) = A_s Var_μ(ψ),  A_s = α ∫|Ṽ| dμ / M   the uniformly chosen particles that
                                                   restore the population to n.

κ_s is the number of restoring particles per event.  In a step Δt the duplications C and
kills K are nearly independent Poisson counts of equal mean λ/2, λ = n Δt A_s, and the
restore moves |C − K| particles, so κ = E|C − K|/λ = e^{−λ}(I₀(λ) + I₁(λ)): 1 as λ → 0,
at most one event per step, every kill paired with a random duplicate (the continuous-time
process of seed §5, whose source is M·α∫∫|Ṽ(x)|(ψ(x) − ψ(y))² dμ(x)dμ(y)/M = M(q + r)), and
≈ √(2/(πλ)) → 0 as n → ∞ at fixed Δt.  So at fixed Δt the variance of ωⁿ is not flat in
n: it falls from the continuous-time value towards the n → ∞ one as nΔt grows.

Left out: corrections of relative order αΔt|Ṽ| (the Bernoulli variance p(1 − p) against the
rate, and the O(nΔt²) difference between E C and E K).

The test functions of the compared observables: x_a/M (mean), x_a²/M (second moment),
and V_t = δE/δμ (energy).  Numerics: the grid PDE runs once forward through the step ends
and their midpoints (the comparison times among them), keeping a solver checkpoint per
segment, and is replayed segment by segment from the last while ψ is integrated backwards
by SSP-RK3, with Δs·(Σ_a max|∂_aV|/h_a + α max|Ṽ|) ≤ 1; transport upwind with limited
reconstruction; ∇·(μ∇ψ) by face fluxes with none through a wall; the constant part of ψ
removed after each step (L*1 = αV̄ would only grow it, and ⟨1, ω⟩ = 0 makes it irrelevant);
the source integrals by Simpson's rule.  Accuracy: against the exact answers of independent
particles, 1e-5 relative at t = 1 on the 400 cells of ``gaussian_1d``; on
``birth_death_2d`` (128², α = 0) the means are within 0.2% and 1.9% of 200 000 particles,
the energy 12.5% high at t = 0.5 and 4% at t = 2: the start sits on a maximum of F, where
ψ(0) = φ∘X_t has layers of width ∝ e^{−π² t} that no grid resolves.  A coordinate on a
periodic axis jumps at the seam, where its mean converges to first order only.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special

from ..fv.solver import Solver
from ..model.build import Setup
from ..model.grid import AXIS_NAMES, Grid

MIN_STEPS = 64      # backward steps over the longest horizon, at least
MAX_REFINEMENTS = 6
FIELD_BUDGET = 2 ** 28   # bytes of node fields held at once (sets the segment length)
FIELDS_PER_NODE = 8      # μ, V, Ṽ, W, up to 3 velocities, and a spare
PREDICTED_REACTIONS = ("balanced", "none")


def restore_factor(events: np.ndarray | float) -> np.ndarray:
    """κ(λ) = E|C − K|/λ for independent Poisson C, K of mean λ/2: e^{−λ}(I₀(λ) + I₁(λ))."""
    events = np.asarray(events, dtype=float)
    return special.i0e(events) + special.i1e(events)


def birth_death_rate(mu: np.ndarray, potential: np.ndarray, alpha: float, volume: float) -> float:
    """A = α ∫|V − V̄| dμ / M, the birth–death events per particle and unit time (the
    balanced rates Ṽ = V − V̄, V̄ = ∫V dμ / M)."""
    mass = float(mu.sum()) * volume
    centred = potential - float((potential * mu).sum()) * volume / mass
    return alpha * float((np.abs(centred) * mu).sum()) * volume / mass


def unpredicted_reason(setup: Setup) -> str | None:
    """Why the linearised theory does not apply to ``setup`` (None when it does)."""
    problem = setup.problem
    if problem.reaction not in PREDICTED_REACTIONS:
        return f"the {problem.reaction} reaction (the prediction covers {', '.join(PREDICTED_REACTIONS)})"
    if problem.tau > 0:
        return "tau > 0 (Brownian particles add a source the prediction leaves out)"
    if problem.finite_n is not None:
        return "dynamics.finite_n (a floor the particles do not have)"
    return None


def observable_gradient(name: str, grid: Grid, potential: np.ndarray, mass: float) -> np.ndarray:
    """ψ_t = δ⟨observable⟩/δμ at μ_t: x_a/M (mean_a), x_a²/M (second_moment_a), V_t (energy)."""
    if name == "energy":
        return potential.copy()
    kind, axis = name.rsplit("_", 1)
    x = grid.mesh()[AXIS_NAMES.index(axis)]
    if kind == "mean":
        return x / mass
    if kind == "second_moment":
        return x ** 2 / mass
    raise ValueError(f"no test function for the observable {name!r}")


def step_ends(times: np.ndarray, steps: int) -> np.ndarray:
    """0 and ≈ ``steps`` equal steps over [0, times[-1]], each interval between comparison
    times cut into ⌈steps·length/times[-1]⌉ equal parts (so every comparison time is a node)."""
    bounds = np.concatenate(([0.0], times))
    parts = [np.linspace(a, b, max(1, math.ceil(steps * (b - a) / times[-1])) + 1)[1:]
             for a, b in zip(bounds[:-1], bounds[1:])]
    return np.concatenate([[0.0], *parts])


class LinearisedAdjoint:
    """L*_s (module docstring) on the cells of a grid, at one state (μ_s, V_s, α_s) given
    as the :meth:`fields` of that node."""

    def __init__(self, setup: Setup, mass: float):
        self.grid = setup.grid
        self.interaction = setup.problem.interaction
        self.transport = setup.problem.transport
        self.volume = self.grid.cell_volume
        self.mass = mass

    def _integral(self, values: np.ndarray) -> np.ndarray:
        """∫ over the cells of a stack (k, *shape) → (k,)."""
        return values.reshape(values.shape[0], -1).sum(axis=1) * self.volume

    def _mean(self, psi: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """ψ̄ = ⟨ψ, μ⟩/M of a stack, shaped to broadcast against it."""
        return (self._integral(psi * mu) / self.mass).reshape((-1,) + (1,) * self.grid.ndim)

    def _convolve(self, stack: np.ndarray) -> np.ndarray:
        """K⋆g for each g of a stack (k, *shape)."""
        out = np.empty_like(stack)
        for g, o in zip(stack, out):
            self.interaction.potential(np.ascontiguousarray(g), o)
        return out

    def fields(self, mu: np.ndarray, potential: np.ndarray, alpha: float) -> dict:
        """What L* and the sources need at one node: μ, Ṽ, W = F + 2K⋆μ, α and the face
        velocities v = −(V_{i+1} − V_i)/h per axis."""
        centred = potential - float((potential * mu).sum()) * self.volume / self.mass
        weight = potential if self.interaction is None else potential + self._convolve(mu[None])[0]
        return {"mu": mu, "potential": potential, "centred": centred, "weight": weight,
                "alpha": float(alpha),
                "velocity": [self._face_difference(-potential, a) for a in range(self.grid.ndim)]}

    def rate(self, fields: dict) -> float:
        """The node's bound on 1/Δs: Σ_a max|v_a|/h_a (with transport) + α max|Ṽ|."""
        transport = self.transport * sum(float(np.abs(v).max()) / h
                                         for v, h in zip(fields["velocity"], self.grid.spacing))
        return transport + fields["alpha"] * float(np.abs(fields["centred"]).max())

    def _face_difference(self, field: np.ndarray, axis: int) -> np.ndarray:
        """(f_{i+1} − f_i)/h_a on the face after each cell along ``axis`` (over the last
        axes of a stack): the wrap-around face on a periodic axis, 0 on a bounded one's
        far wall."""
        along = field.ndim - self.grid.ndim + axis
        difference = (np.roll(field, -1, along) - field) / self.grid.spacing[axis]
        if not self.grid.periodic[axis]:
            _zero_layer(difference, along, -1)
        return difference

    def _transport(self, fields: dict, psi: np.ndarray) -> np.ndarray:
        """The transport part −∇V·∇ψ of L*: ψ is carried with speed c = ∇V (in backward
        time), upwind with limited linear reconstruction (monotonised-central slopes,
        second order where ψ is smooth; ψ(0) is nearly a step where the flow splits, e.g.
        between wells, and centred differences oscillate and blow up there).  c at a cell
        is the mean of its two face values −v, v = −(V_{i+1} − V_i)/h, 0 on a wall."""
        out = np.zeros_like(psi)
        for a, velocity in enumerate(fields["velocity"]):
            along = psi.ndim - self.grid.ndim + a
            after = self._face_difference(psi, a)          # (ψ_{i+1} − ψ_i)/h, 0 at the far wall
            before = np.roll(after, 1, along)              # (ψ_i − ψ_{i−1})/h
            if not self.grid.periodic[a]:
                _zero_layer(before, along, 0)              # near wall
            slope = _monotonised_central(before, after)
            jump = 0.5 * self.grid.spacing[a] * slope
            left = before + (jump - np.roll(jump, 1, along)) / self.grid.spacing[a]
            right = after - (np.roll(jump, -1, along) - jump) / self.grid.spacing[a]
            if not self.grid.periodic[a]:
                _zero_layer(left, along, 0)
                _zero_layer(right, along, -1)
            speed = -0.5 * (velocity + np.roll(velocity, 1, velocity.ndim - self.grid.ndim + a))
            out -= np.where(speed > 0, speed * left, speed * right)
        return out

    def _divergence(self, mu: np.ndarray, psi: np.ndarray) -> np.ndarray:
        """∇·(μ∇ψ) for a stack, conservatively: face fluxes μ_f (ψ_{i+1} − ψ_i)/h with μ_f
        the mean of the two cells, none through a wall (so the integration by parts that
        gives the K⋆(∇·(μ∇ψ)) term of L* has no boundary term)."""
        out = np.zeros_like(psi)
        for a in range(self.grid.ndim):
            along = psi.ndim - self.grid.ndim + a
            flux = 0.5 * (mu + np.roll(mu, -1, a)) * self._face_difference(psi, a)
            behind = np.roll(flux, 1, along)
            if not self.grid.periodic[a]:
                _zero_layer(behind, along, 0)
            out += (flux - behind) / self.grid.spacing[a]
        return out

    def __call__(self, fields: dict, psi: np.ndarray) -> np.ndarray:
        """L*ψ at a node for a stack ψ (k, *shape)."""
        mu, alpha = fields["mu"], fields["alpha"]
        out = np.zeros_like(psi)
        if self.transport:
            out += self._transport(fields, psi)
            if self.interaction is not None:
                out += self._convolve(self._divergence(mu, psi))
        if alpha:
            out += alpha * (self._mean(psi, mu) * fields["weight"] - fields["centred"] * psi)
            if self.interaction is not None:
                out -= alpha * self._convolve(psi * mu)
        return out

    def sources(self, fields: dict, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """q(ψ) (k,), M Var_μ(ψ) (k,) and A = α∫|Ṽ|dμ/M at a node (r = A·M Var_μ(ψ))."""
        mu, alpha = fields["mu"], fields["alpha"]
        spread = (psi - self._mean(psi, mu)) ** 2 * mu
        return (self.mass * alpha * self._integral(spread * np.abs(fields["centred"])),
                self.mass * self._integral(spread),
                birth_death_rate(mu, fields["potential"], alpha, self.volume))


class GridPath:
    """The grid PDE of a setup through step ends and their midpoints, run once forward with
    a solver checkpoint every ``segment`` steps, then replayed segment by segment from the
    last (so memory holds one segment's fields, not the whole path)."""

    def __init__(self, setup: Setup, ends: np.ndarray, segment: int):
        self.setup, self.ends, self.segment = setup, ends, segment
        self.nodes = np.empty(2 * ends.size - 1)
        self.nodes[::2] = ends
        self.nodes[1::2] = 0.5 * (ends[:-1] + ends[1:])
        problem = setup.problem
        self._alpha = [problem.alpha.value_at(float(t)) if problem.has_reaction else 0.0
                       for t in self.nodes]
        self.solver = Solver(problem, setup.scheme, setup.mu0)
        self.adjoint = LinearisedAdjoint(setup, setup.grid.integrate(self.solver.mu))
        self.checkpoints, self.rate = [], 0.0
        for j, fields in enumerate(self._run(0, self.nodes.size - 1)):
            if j % (2 * segment) == 0:
                self.checkpoints.append(self.solver.state())
            self.rate = max(self.rate, self.adjoint.rate(fields))

    def _run(self, first: int, last: int):
        """Yield the fields of nodes first … last, advancing the solver (already at node first)."""
        for j in range(first, last + 1):
            if j > first:
                self.solver.advance(float(self.nodes[j]))
            yield self.adjoint.fields(self.solver.mu.copy(), self.solver.potential(), self._alpha[j])

    def stable(self) -> bool:
        """Whether every step Δs × the largest node rate is ≤ 1."""
        return self.rate * float(np.diff(self.ends).max()) <= 1.0

    def segments(self):
        """(first step end i₀, fields of nodes 2i₀ … 2i₁) per segment, the last one first."""
        for m in range(len(self.checkpoints) - 1, -1, -1):
            first = 2 * self.segment * m
            last = min(first + 2 * self.segment, self.nodes.size - 1)
            if first == last:
                continue
            self.solver.restore(self.checkpoints[m])
            yield first // 2, list(self._run(first, last))


def backward_sweep(path: GridPath, names: Sequence[str], positions: Sequence[int]) -> list[dict]:
    """Integrate ψ backwards from every comparison time (step-end index ``positions[k]``,
    ψ = :func:`observable_gradient` of ``names`` there) to s = 0 in one sweep, by SSP-RK3.
    Per comparison time: ``psi`` = ψ(0), ``initial`` = M Var_{μ₀}(ψ(0)) and, at the step
    ends ``s`` = s_end … s_0, the sources ``q`` and ``variance`` = Var_μ(ψ) (each (steps + 1,
    len(names))) and the ``rate`` A."""
    adjoint, grid, rows = path.adjoint, path.setup.grid, len(names)
    found = [{"q": [], "variance": [], "rate": []} for _ in positions]
    active: list[int] = []
    psi = np.empty((0,) + grid.shape)

    def record(fields):
        q, variance, rate = adjoint.sources(fields, psi)
        for slot, k in enumerate(active):
            block = slice(slot * rows, (slot + 1) * rows)
            found[k]["q"].append(q[block])
            found[k]["variance"].append(variance[block])
            found[k]["rate"].append(rate)

    for start, fields in path.segments():
        for local in range(len(fields) - 1, 0, -2):         # the segment's step ends, last first
            i = start + local // 2
            for k, end in enumerate(positions):
                if end == i:
                    active.append(k)
                    psi = np.concatenate((psi, [observable_gradient(name, grid, fields[local]["potential"],
                                                                    adjoint.mass) for name in names]))
            record(fields[local])
            h = float(path.ends[i] - path.ends[i - 1])
            first = psi + h * adjoint(fields[local], psi)
            second = 0.75 * psi + 0.25 * (first + h * adjoint(fields[local - 2], first))
            psi = psi / 3.0 + (2.0 / 3.0) * (second + h * adjoint(fields[local - 1], second))
            psi -= adjoint._mean(psi, fields[local - 2]["mu"])    # L*1 = αV̄: constants only grow
        if start == 0:
            record(fields[0])
    results = []
    for slot, k in enumerate(active):
        entry = {key: np.array(values) for key, values in found[k].items()}
        entry.update(psi=psi[slot * rows:(slot + 1) * rows], s=path.ends[positions[k]::-1],
                     initial=entry["variance"][-1])
        results.append((k, entry))
    return [entry for _, entry in sorted(results, key=lambda pair: pair[0])]


@dataclass(frozen=True)
class VariancePrediction:
    """Predicted Var⟨φ, ωⁿ_t⟩ per observable at the comparison times.

    ``initial`` (T,): M Var_{μ₀}(ψ(0)); ``events`` (T,): M∫q ds; ``restore`` (T,): M∫r ds
    (κ = 1); ``at_n`` (len(ns), T): initial + events + M∫κ(nΔtA_s) r ds at the run's Δt;
    ``large_n`` = initial + events (n → ∞ at fixed Δt); ``continuous_time`` = initial +
    events + restore (Δt → 0 at fixed n).  ``steps``: backward steps over [0, t_T]."""

    times: np.ndarray
    ns: tuple[int, ...]
    dt: float
    steps: int
    initial: dict[str, np.ndarray]
    events: dict[str, np.ndarray]
    restore: dict[str, np.ndarray]
    at_n: dict[str, np.ndarray]

    def large_n(self, name: str) -> np.ndarray:
        return self.initial[name] + self.events[name]

    def continuous_time(self, name: str) -> np.ndarray:
        return self.large_n(name) + self.restore[name]


def predict_variances(setup: Setup, times: Sequence[float], names: Sequence[str],
                      ns: Sequence[int], dt: float, steps: int = MIN_STEPS) -> VariancePrediction:
    """:class:`VariancePrediction` of the observables ``names`` (mean_a, second_moment_a,
    energy) at ``times`` for populations ``ns`` stepped at particle Δt ``dt``.  The backward
    steps start at ``steps`` over [0, times[-1]] and double until stable (at most
    :data:`MAX_REFINEMENTS` times).  ValueError when :func:`unpredicted_reason` says no."""
    reason = unpredicted_reason(setup)
    if reason:
        raise ValueError(f"no fluctuation prediction for {reason}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or times[0] <= 0 or np.any(np.diff(times) <= 0):
        raise ValueError("prediction times must be positive and strictly increasing")
    segment = max(1, FIELD_BUDGET // (2 * FIELDS_PER_NODE * 8 * setup.grid.size))
    for _ in range(MAX_REFINEMENTS + 1):
        ends = step_ends(times, steps)
        path = GridPath(setup, ends, segment)
        if path.stable():
            break
        steps = math.ceil(1.1 * steps * path.rate * float(np.diff(ends).max()))   # the rate is known now
    else:
        raise ValueError(f"the backward fluctuation equation did not become stable at {steps} steps")
    keys = ("initial", "events", "restore")
    result = {key: {name: np.empty(times.size) for name in names} for key in keys}
    at_n = {name: np.empty((len(ns), times.size)) for name in names}
    for k, found in enumerate(backward_sweep(path, names, np.searchsorted(ends, times))):
        s = found["s"][::-1]
        q, rate = found["q"][::-1], found["rate"][::-1]
        restore = rate[:, None] * found["variance"][::-1]
        for c, name in enumerate(names):
            result["initial"][name][k] = found["initial"][c]
            result["events"][name][k] = _integral(q[:, c], s)
            result["restore"][name][k] = _integral(restore[:, c], s)
            for m, n in enumerate(ns):
                at_n[name][m, k] = (found["initial"][c] + result["events"][name][k]
                                    + _integral(restore_factor(n * dt * rate) * restore[:, c], s))
    if not all(np.all(np.isfinite(values)) for values in at_n.values()):
        raise ValueError("the backward fluctuation equation did not stay finite")
    return VariancePrediction(times, tuple(int(n) for n in ns), float(dt), int(ends.size - 1),
                              result["initial"], result["events"], result["restore"], at_n)


def _zero_layer(array: np.ndarray, axis: int, position: int) -> None:
    """Set the layer ``position`` (0: first, −1: last) of ``array`` along ``axis`` to 0."""
    np.moveaxis(array, axis, 0)[position] = 0.0


def _monotonised_central(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The MC-limited slope of two one-sided differences: 0 at an extremum, else the
    smallest of |centred|, 2|before|, 2|after| with their common sign."""
    centred = 0.5 * (before + after)
    size = np.minimum(np.abs(centred), 2.0 * np.minimum(np.abs(before), np.abs(after)))
    return np.where(before * after > 0, np.sign(centred) * size, 0.0)


def _integral(values: np.ndarray, s: np.ndarray) -> float:
    """∫ values ds over the nodes s by Simpson's rule (0 on a single node)."""
    return float(integrate.simpson(values, x=s)) if s.size > 1 else 0.0
