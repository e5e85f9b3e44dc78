"""The JAX backend: the solver's arrays on whatever device JAX finds (CPU or GPU), float64.

A step is one compiled function (:func:`.step.step` under ``jax.jit``, built by
:meth:`JaxBackend.make_step`), so the device runs the whole Strang step without a return to
Python; the host sees the state only at output times (``to_host``) and, per step, the three
scalars the stability bound needs (the face speeds, the moment sums for the shift, the largest
rate), each from a small compiled query.  The solver's work arrays are :class:`Buffer` holders
(JAX arrays are immutable: an operation with an ``out`` replaces the holder's array).

XLA's CPU backend flushes subnormal numbers (below 2.2e-308) to zero, by design (JAX issue
#16200); GPUs keep float64 subnormals.  A density whose tail is subnormal therefore has empty
cells there on JAX's CPU device, where the Numba backend keeps values of 1e-310: μ agrees to
far below 1e-11 relative, but the largest reaction rate of the stability bound, taken over the
cells with μ > 0, can then come from different cells, and an adaptive Δt differs (by 0.2% in
``tests/test_jax_backend.py``'s case).
"""
from __future__ import annotations

from contextlib import nullcontext
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ....model.grid import Grid
from ....model.interaction import NoInteraction
from .. import HostScalars
from . import operators as op
from . import step as jstep
from .interaction import interaction_potential, spectral_parts


class Buffer:
    """A mutable slot holding one grid-shaped device array (``value``)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


@partial(jax.jit, static_argnames="plan")
def _compiled_step(plan, arrays, mu, v, dt, alphas, conserved_mass, floor):
    return jstep.step(plan, arrays, mu, v, dt, alphas, conserved_mass, floor)


@partial(jax.jit, static_argnames="form")
def _compiled_potential(f, mu, arrays, form):
    return f + interaction_potential(mu, arrays, form)


@partial(jax.jit, static_argnames="layout")
def _compiled_rate(mu, v, layout):
    return -op.divergence(mu, v, layout)


@partial(jax.jit, static_argnames="layout")
def _compiled_speeds(v, layout):
    speeds = op.face_speeds(v, layout)
    return speeds, op.transport_rate_bound(speeds, layout)


_total_potential = jax.jit(op.total_potential, static_argnames="tau")
_moment_sums = jax.jit(op.moment_sums)
_signed_moment_sums = jax.jit(op.signed_moment_sums)
_max_rate = jax.jit(op.max_rate)


class JaxBackend(HostScalars):
    """Finite-volume operations on grid-shaped float64 JAX arrays in :class:`Buffer` holders."""

    name = "jax"

    def __init__(self, grid: Grid, order: int, theta: float, tau: float, diffusion: str = "explicit"):
        if diffusion != "explicit":   # make_backend refuses first; this guards direct use
            raise ValueError("the jax backend steps the diffusion explicitly only")
        if jnp.zeros(()).dtype != jnp.float64:
            raise RuntimeError("the jax backend runs in float64, but jax_enable_x64 has been "
                               "switched off in this process")
        self.grid = grid
        self.tau = tau
        self.layout = op.Layout(tuple(grid.cells), tuple(grid.periodic),
                                tuple(1.0 / h for h in grid.spacing), order, theta, tau)
        self.device = jax.devices()[0]

    # -- arrays ------------------------------------------------------------------
    def empty(self) -> Buffer:
        """A work array (zeros) of one value per cell."""
        return Buffer(jnp.zeros(self.grid.shape))

    def from_host(self, values, copy: bool = True) -> Buffer:
        """The grid-shaped host array ``values`` on the device (always a copy there)."""
        host = np.asarray(values, dtype=np.float64).reshape(self.grid.shape)
        return Buffer(self.put(host))

    def put(self, host: np.ndarray):
        """A device copy of ``host``, made on the host first: the CPU device would otherwise
        share an aligned array's memory, or read it after device_put returned (the transfer is
        asynchronous), and the caller may go on writing it."""
        return jax.device_put(np.array(host, copy=True), self.device)

    def copy(self, source: Buffer, out: Buffer) -> None:
        """out = source (arrays are immutable: out now refers to source's array)."""
        out.value = source.value

    def total(self, values: Buffer) -> float:
        """Σ_i values_i."""
        return float(jnp.sum(values.value))

    def extrema(self, values: Buffer) -> tuple[float, float]:
        """(min_i values_i, max_i values_i)."""
        return float(jnp.min(values.value)), float(jnp.max(values.value))

    def to_host(self, array: Buffer) -> np.ndarray:
        """``array`` copied to a grid-shaped, writable host array."""
        return np.array(array.value)

    def threads(self, timed: bool = False):
        """JAX chooses its own threads: nothing to set."""
        return nullcontext()

    # -- the compiled step --------------------------------------------------------
    def make_step(self, problem, scheme, stages, floor: float):
        """The step of ``problem`` under ``scheme`` as ``advance(mu, v, t, dt, M₀)``: μ
        (a Buffer) ← one step of size Δt from time t, ``v`` the Buffer of V(μ) or None,
        M₀ the conserved mass.  ``stages``: the SSP tableau; ``floor``: the finite-n floor."""
        plan, arrays = self.step_plan(problem, scheme, stages, floor > 0)
        schedule = problem.alpha

        def advance(mu: Buffer, v: Buffer | None, t: float, dt: float,
                    conserved_mass: float) -> None:
            alphas = jnp.asarray(jstep.alpha_means(schedule, t, dt, plan.strang))
            # plain floats: a NumPy scalar would be traced as another type and compile again
            mu.value = _compiled_step(plan, arrays, mu.value, None if v is None else v.value,
                                      float(dt), alphas, float(conserved_mass), float(floor))
        return advance

    def step_plan(self, problem, scheme, stages, floored: bool):
        """(static :class:`.step.StepPlan`, device arrays) of ``problem`` under ``scheme``;
        ``floored``: whether the finite-n floor empties cells after each step."""
        reaction = problem.reaction_model
        form, arrays = None, {"f": problem.potential}
        if problem.interaction is not None and not isinstance(problem.interaction, NoInteraction):
            form, spectral = spectral_parts(problem.interaction)
            arrays.update(spectral)
        if problem.prior is not None:
            arrays["prior"] = problem.prior
        plan = jstep.StepPlan(
            layout=self.layout, stages=tuple(tuple(s) for s in stages),
            strang=scheme.splitting == "strang", transport=problem.transport,
            has_reaction=problem.has_reaction, reaction=problem.reaction,
            depends_on_mu=(problem.interaction is not None or problem.tau > 0
                           or reaction.uses_prior),
            form=form, floored=floored, cell_volume=self.grid.cell_volume)
        return plan, {key: self.put(np.asarray(value)) for key, value in arrays.items()}

    # -- V = F + K ⋆ μ --------------------------------------------------------------
    def potential(self, f: Buffer, interaction, mu: Buffer, work, out: Buffer) -> None:
        """out = F + K ⋆ μ, by the device FFT of the interaction's kernel transform."""
        if isinstance(interaction, NoInteraction):
            out.value = f.value
            return
        form, arrays = self._interaction_parts(interaction)
        out.value = _compiled_potential(f.value, mu.value, arrays, form)

    def _interaction_parts(self, interaction):
        """The interaction's (spectral form, device arrays), built once per interaction."""
        cached = getattr(self, "_spectral", None)
        if cached is None or cached[0] is not interaction:
            form, arrays = spectral_parts(interaction)
            cached = (interaction, form, {k: self.put(v) for k, v in arrays.items()})
            self._spectral = cached
        return cached[1], cached[2]

    # -- transport -----------------------------------------------------------------
    def transport_rate(self, mu: Buffer, v: Buffer, out: Buffer) -> None:
        """out = −Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a, the semi-discrete transport rate."""
        out.value = _compiled_rate(mu.value, v.value, self.layout)

    def transport_rate_bound(self, v: Buffer, speeds: np.ndarray) -> float:
        """Σ_a 2 max|u_a| / h_a + 2τ Σ_a 1/h_a², with max|u_a| written to ``speeds``."""
        face, bound = _compiled_speeds(v.value, self.layout)
        speeds[:] = 0.0
        speeds[:self.grid.ndim] = np.asarray(face)
        return float(bound)

    def speeds_rate_bound(self, speeds: np.ndarray) -> float:
        """The transport part of ν/Δt from face speeds found before (V unchanged since)."""
        return float(op.transport_rate_bound(jnp.asarray(speeds[:self.grid.ndim]), self.layout))

    # -- reaction sums ---------------------------------------------------------------
    def total_potential(self, v: Buffer, mu: Buffer, out: Buffer) -> None:
        """out = U = V + τ (log μ + 1)."""
        out.value = _total_potential(v.value, mu.value, tau=self.tau)

    def moment_sums(self, mu: Buffer, u: Buffer) -> tuple[float, float]:
        """(Σ_i μ_i, Σ_i U_i μ_i)."""
        return tuple(float(x) for x in _moment_sums(mu.value, u.value))

    def signed_moment_sums(self, mu: Buffer, u: Buffer) -> tuple[float, float, float]:
        """(Σ_i μ_i, Σ_i max(U_i, 0) μ_i, Σ_i max(−U_i, 0) μ_i)."""
        return tuple(float(x) for x in _signed_moment_sums(mu.value, u.value))

    def max_rate(self, mu: Buffer, u: Buffer, shift: float) -> float:
        """max over cells with μ > 0 of |U − s|."""
        return float(_max_rate(mu.value, u.value, shift))
