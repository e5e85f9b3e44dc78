"""pdesolve: finite-volume and particle solvers for the unbalanced transport equation."""
from importlib.metadata import version as _version

__version__ = _version("pdesolve")

from .grid import Grid  # noqa: E402

__all__ = ["Grid", "__version__"]
