"""The JAX backend (``scheme.backend = "jax"``, extra ``pdesolve[jax]``): the whole step compiled
by XLA for the CPU or a GPU, in float64 (importing this package sets ``jax_enable_x64``)."""
import jax

jax.config.update("jax_enable_x64", True)
