"""Result files: atomic, SWMR, checkpointing HDF5 for grid runs and for particle runs."""
