"""Sweeps: many cases from one base case file, run as tasks on Dask (``pdesolve sweep``).

:mod:`.spec` reads the sweep file into tasks, :mod:`.tasks` runs one task where the
scheduler puts it, :mod:`.scalars` reads a finished task's numbers, :mod:`.table` writes
them all to ``sweep.nc``, and :mod:`.engine` drives the whole sweep.
"""
