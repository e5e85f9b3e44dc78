"""Array backends of the finite-volume scheme, chosen by ``scheme.backend``.

A backend does the array work of :class:`pdesolve.fv.solver.Solver` on its own kind of
one-value-per-cell array; the solver keeps the state and the time control and reaches array
contents only through the protocol (and ``to_host`` for diagnostics and output).
:class:`Backend` is the protocol.  A backend either offers the step's kernels one by one (the
Numba backend: the solver composes them) or compiles the whole step itself (``make_step``: the
JAX backend, whose step runs on the device without returning to Python); the state queries
(V, the stability bound, the sums, rates for diagnostics) are common to both. :func:`make_backend` builds (and caches) one for hashable
options, the way PyMPDATA keys its compiled stepper on its ``Options``.  Adding a backend is
one subpackage implementing the protocol plus one line in ``BACKENDS``, which names the class
by its import path so that a backend's dependencies are imported only when it is used.

The interaction K ⋆ μ is handed to ``potential`` as the grid interaction object (its grid and
kernel); the Numba backend calls its host FFT, another backend may build its own from them.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache
from importlib import import_module
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:   # the registry is read by the command line, which must not wait for NumPy
    from ...model.grid import Grid


LOG_FLOOR = 1e-300   # μ is floored at this inside log μ (both backends)


class HostScalars:
    """The scalar operations a reaction's ``rate_parameters`` applies to the sums, on host
    floats (a compiled step supplies traced versions)."""

    @staticmethod
    def ratio(numerator: float, denominator: float) -> float:
        """numerator / denominator, or 0 when the denominator is not positive."""
        return numerator / denominator if denominator > 0 else 0.0

    minimum = staticmethod(min)
    maximum = staticmethod(max)


class Backend(Protocol):
    """The operations the solver needs (arrays: ``grid.size`` float64 values in the backend's
    own layout and kind of array)."""

    name: str

    def empty(self) -> Any: ...                                  # a work array
    def from_host(self, values, copy: bool = True) -> Any: ...   # grid-shaped host → array
    def copy(self, source, out) -> None: ...                     # out = source
    def total(self, values) -> float: ...                        # Σ values
    def extrema(self, values) -> tuple[float, float]: ...        # (min, max)
    def to_host(self, array) -> Any: ...                         # array → grid-shaped host
    def threads(self, timed: bool = False) -> AbstractContextManager[None]: ...  # how kernels run; timed: one step
    def potential(self, f, interaction, mu, work, out) -> None: ...          # out = F + K ⋆ μ
    def transport_stage(self, mu, v, base, weight_base, weight_stage, dt, out) -> None: ...
    def transport_rate(self, mu, v, out) -> None: ...            # −Σ_a δΦ_a / h_a
    def transport_rate_bound(self, v, speeds) -> float: ...      # transport part of ν/Δt
    def speeds_rate_bound(self, speeds) -> float: ...            # the same from known speeds
    def total_potential(self, v, mu, out) -> None: ...           # U = V + τ(log μ + 1)
    def moment_sums(self, mu, u) -> tuple[float, float]: ...     # Σμ, ΣUμ
    def signed_moment_sums(self, mu, u) -> tuple[float, float, float]: ...  # Σμ, ΣU⁺μ, ΣU⁻μ
    def max_rate(self, mu, u, shift) -> float: ...               # max_{μ>0} |U − s|
    def ratio(self, numerator, denominator) -> float: ...        # a / b, 0 if b ≤ 0
    def minimum(self, a, b) -> float: ...
    def maximum(self, a, b) -> float: ...
    # the step, either as kernels the solver composes ...
    def exponential_reaction(self, mu, u, shift, rate_dt) -> float: ...     # μ e^{−αΔt(U−s)}
    def reinjection_reaction(self, mu, u, prior, shift, source, alpha, dt) -> float: ...
    def exponential_factors(self, u, shift, rate_dt, out) -> None: ...
    def multiply(self, mu, factors) -> float: ...
    def scale(self, mu, factor) -> None: ...
    def zero_below(self, mu, floor) -> float: ...                # μ ← 0 where μ < floor; Σμ after
    # ... or compiled whole: advance(mu, v or None, t, dt, conserved_mass) updates mu in place
    # def make_step(self, problem, scheme, stages, floor) -> Callable: ...


BACKENDS: dict[str, str] = {"numba": "pdesolve.fv.backends.numba.backend:NumbaBackend",
                            "jax": "pdesolve.fv.backends.jax.backend:JaxBackend"}
# how the diffusion τΔμ is stepped (``scheme.diffusion``), and the backends that have the
# implicit step (:mod:`pdesolve.fv.backends.numba.implicit`)
DIFFUSIONS = ("explicit", "implicit")
IMPLICIT_DIFFUSION_BACKENDS = ("numba",)
# the module a backend needs beyond the core install, and the extra that installs it
BACKEND_REQUIREMENTS: dict[str, tuple[str, str]] = {"jax": ("jax", "pdesolve[jax]")}


def backend_unavailable(name: str) -> str | None:
    """Why the backend ``name`` cannot run here (its package is not installed), or None."""
    if name not in BACKEND_REQUIREMENTS:
        return None
    module, extra = BACKEND_REQUIREMENTS[name]
    if find_spec(module) is not None:
        return None
    return f"the {name} backend needs {module}, which is not installed (pip install '{extra}')"


def make_backend(name: str, grid: Grid, order: int, theta: float, tau: float,
                 diffusion: str = "explicit") -> Backend:
    """The backend ``name`` bound to ``grid`` and the scheme's fixed choices (cached: a
    backend holds no state a result depends on, so solvers of the same options share one)."""
    return _cached_backend(name, grid, order, theta, tau, diffusion)


@lru_cache(maxsize=64)
def _cached_backend(name: str, grid: Grid, order: int, theta: float, tau: float, diffusion: str) -> Backend:
    """make_backend's cache, keyed on every option given positionally (lru_cache tells a
    keyword or default argument from a positional one)."""
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    if diffusion == "implicit" and name not in IMPLICIT_DIFFUSION_BACKENDS:
        raise ValueError(f"diffusion = implicit is not available on the {name} backend")
    reason = backend_unavailable(name)
    if reason is not None:
        raise ValueError(reason)
    module, cls = BACKENDS[name].split(":")
    return getattr(import_module(module), cls)(grid, order, theta, tau, diffusion)


make_backend.cache_clear = _cached_backend.cache_clear   # e.g. after the installed packages changed
