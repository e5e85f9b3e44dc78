"""pdesolve: finite-volume and particle solvers for the unbalanced transport equation

    ∂t μ = ∇·(μ ∇U) − α (U − Ū) μ,   U = F + K ⋆ μ + τ (log μ + 1).

Typical use from Python::

    from pdesolve import load_case, run_case
    summary = run_case(load_case("cases/gaussian_1d.toml"), "out.h5")

or, without a case file, build a :class:`Problem` and step a :class:`Solver`.
"""
from importlib.metadata import version as _version

__version__ = _version("pdesolve")

from .model.build import Setup, build_setup  # noqa: E402
from .config.case import Case, CaseError, load_case, validate_case_data  # noqa: E402
from .analysis.comparison import compare_case  # noqa: E402
from .fv.diagnostics import collect as collect_diagnostics  # noqa: E402
from .fv.diagnostics import dissipation_rate, energy  # noqa: E402
from .analysis.exact import GaussianFlow, gibbs_density  # noqa: E402
from .config.expression import ExpressionError, compile_expression  # noqa: E402
from .model.grid import Grid  # noqa: E402
from .model.initial import gaussian_density, initial_density_from_spec  # noqa: E402
from .model.interaction import (  # noqa: E402
    CallableKernel, ConvolutionInteraction, ExpressionKernel, GaussianKernel, NeuronInteraction,
    NoInteraction, NormalDensityKernel, QuadraticKernel, direct_interaction_potential,
    interaction_from_spec)
from .io.grid_result import Result, ResultWriter, read_result  # noqa: E402
from .analysis.plotting import plot_result  # noqa: E402
from .model.potentials import (  # noqa: E402
    ArrayPotential, CallablePotential, DoubleWell, ExpressionPotential, MixtureTarget, MultiWell,
    Potential, Quadratic, ZeroPotential, potential_from_spec)
from .model.problem import Problem, Scheme  # noqa: E402
from .particles import ParticleDynamics, ParticleSystem  # noqa: E402
from .drive.particle_run import run_particles  # noqa: E402
from .drive.grid_run import NumericalFault, RunSummary, run_case  # noqa: E402
from .fv.solver import Solver, StabilityError  # noqa: E402

__all__ = [
    "__version__", "Grid", "Problem", "Scheme", "Solver", "StabilityError", "NumericalFault",
    "Case", "CaseError", "load_case", "validate_case_data", "Setup", "build_setup", "run_case",
    "RunSummary", "energy", "dissipation_rate", "collect_diagnostics", "GaussianFlow",
    "gibbs_density", "ExpressionError", "compile_expression", "gaussian_density",
    "initial_density_from_spec", "Potential", "Quadratic", "DoubleWell", "MultiWell",
    "ExpressionPotential", "CallablePotential", "ArrayPotential", "MixtureTarget", "ZeroPotential",
    "potential_from_spec", "GaussianKernel", "QuadraticKernel", "NormalDensityKernel",
    "ExpressionKernel", "CallableKernel", "NoInteraction", "ConvolutionInteraction",
    "NeuronInteraction", "interaction_from_spec", "direct_interaction_potential", "ResultWriter",
    "Result", "read_result", "plot_result", "run_particles", "ParticleDynamics", "ParticleSystem",
    "compare_case",
]
