"""Numba kernels of the finite-volume scheme: transport fluxes and reaction updates."""
