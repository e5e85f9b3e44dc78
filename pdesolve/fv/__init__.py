"""The finite-volume solver: state and time control (``solver``), diagnostics, and the array backends."""
