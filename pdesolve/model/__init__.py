"""The model: grid, potentials F, kernels K and interactions, reactions, initial densities; built once from a case."""
