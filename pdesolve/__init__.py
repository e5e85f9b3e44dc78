"""pdesolve: finite-volume and particle solvers for the unbalanced transport equation

    ∂t μ = ∇·(μ ∇U) − α (U − Ū) μ,   U = F + K ⋆ μ + τ (log μ + 1).

Typical use from Python::

    from pdesolve import load_case, run_case
    summary = run_case(load_case("cases/gaussian_1d.toml"), "out.h5")

or, without a case file, build a :class:`Problem` and step a :class:`Solver`.
"""
from importlib import import_module
from importlib.metadata import version as _version

__version__ = _version("pdesolve")

# Each public name and the module it lives in.  They are imported on first use (PEP 562),
# so that ``pdesolve --help`` and a process that only reads a result file do not pay for
# Numba, SciPy and Matplotlib.
_HOMES = {
    "Setup": "model.build", "build_setup": "model.build",
    "Case": "config.case", "CaseError": "config.case", "load_case": "config.case",
    "validate_case_data": "config.case",
    "compare_case": "analysis.comparison",
    "collect_diagnostics": ("fv.diagnostics", "collect"), "dissipation_rate": "fv.diagnostics",
    "energy": "fv.diagnostics",
    "GaussianFlow": "analysis.exact", "gibbs_density": "analysis.exact",
    "ExpressionError": "config.expression", "compile_expression": "config.expression",
    "Grid": "model.grid",
    "gaussian_density": "model.initial", "initial_density_from_spec": "model.initial",
    **{name: "model.interaction" for name in (
        "CallableKernel", "ConvolutionInteraction", "ExpressionKernel", "GaussianKernel",
        "NeuronInteraction", "NoInteraction", "NormalDensityKernel", "QuadraticKernel",
        "direct_interaction_potential", "interaction_from_spec")},
    "Result": "io.grid_result", "ResultWriter": "io.grid_result", "read_result": "io.grid_result",
    "plot_result": "analysis.plotting",
    **{name: "model.potentials" for name in (
        "ArrayPotential", "CallablePotential", "DoubleWell", "ExpressionPotential", "MixtureTarget",
        "MultiWell", "Potential", "Quadratic", "ZeroPotential", "potential_from_spec")},
    "Problem": "model.problem", "Scheme": "model.problem",
    "ParticleDynamics": "particles", "ParticleSystem": "particles",
    "run_particles": "drive.particle_run",
    "NumericalFault": "drive.grid_run", "RunSummary": "drive.grid_run", "run_case": "drive.grid_run",
    "Solver": "fv.solver", "StabilityError": "fv.solver",
    "load_sweep": "sweep.spec", "run_sweep": "sweep.engine", "read_table": "sweep.table",
}

__all__ = ["__version__", *_HOMES]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'pdesolve' has no attribute {name!r}")
    module, attribute = home if isinstance(home, tuple) else (home, name)
    value = getattr(import_module(f".{module}", __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
