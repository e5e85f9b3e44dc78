"""The Numba backend: ``cache=True`` kernels on host NumPy arrays."""
