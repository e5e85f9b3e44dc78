"""Particles on JAX (``scheme.backend = "jax"``, extra ``pdesolve[jax]``): the particle step of
:mod:`pdesolve.particles` as one jitted function — V and ∇V at the particles (F traced, the
interaction by pair sums or particle–mesh with a scatter-add deposit), the gradient move,
Langevin noise, the box faces, and seed Algorithm 1 with JAX's counter-based PRNG — running
on the device JAX finds.  Importing it sets ``jax_enable_x64`` (through the grid backend)."""
from ...fv.backends import jax as _x64  # noqa: F401  (float64 before any array is made)
