"""Drivers: a run of a case from start to result file, for the grid and for the particles."""
