"""CF-style ``long_name`` and ``units`` of every dataset pdesolve writes.

The model is dimensionless (time, space, density and potential are in the units of the case
file), so every quantity has CF's dimensionless unit "1"; a count (step, replicate, axis index)
has none.  netCDF readers (xarray with h5netcdf, ncdump, ParaView) show these attributes.
"""
from __future__ import annotations

import h5py

DIMENSIONLESS = "1"
LONG_NAMES = {
    # grid and snapshots
    "x": "cell centre, first axis", "y": "cell centre, second axis", "z": "cell centre, third axis",
    "time": "time", "times": "output time",
    "mu": "density mu", "V": "potential V = F + K * mu",
    # diagnostics of a grid run
    "t": "time", "step": "time steps taken", "dt": "last time step",
    "mass": "mass, integral of mu", "energy": "energy E[mu]", "dissipation": "energy dissipation rate dE/dt",
    "v_bar": "mean potential, integral of V dmu / mass", "min_mu": "minimum of mu",
    "l1_change": "L1 change of mu since the previous snapshot", "loss": "network loss E + |f|^2 / 2",
    # observables of a particle run
    "mean": "mean position", "covariance": "covariance of the positions",
    "histogram": "particle density on the case grid", "replicate": "replicate index",
    "axis": "axis index", "axis2": "axis index", "particle": "particle index",
    "positions": "particle positions",
}
COUNTS = {"step", "replicate", "axis", "axis2", "particle"}
CARTESIAN_AXES = {"x": "X", "y": "Y", "z": "Z"}


def describe(dataset: h5py.Dataset, name: str | None = None) -> None:
    """Give ``dataset`` the long_name (and units, axis) of ``name`` (default: its own name);
    a name without a description is left as it is."""
    name = name or dataset.name.rsplit("/", 1)[-1]
    if name not in LONG_NAMES:
        return
    dataset.attrs["long_name"] = LONG_NAMES[name]
    if name not in COUNTS:
        dataset.attrs["units"] = DIMENSIONLESS
    if name in CARTESIAN_AXES:
        dataset.attrs["axis"] = CARTESIAN_AXES[name]
