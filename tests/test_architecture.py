"""The seams of the architecture: backends, the reaction registry, the typed case, the
Python API (DESIGN: the flow case file → Case → model → solver → observers → files)."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from pdesolve import (ConvolutionInteraction, GaussianKernel, Grid, Problem, Quadratic, Scheme,
                      Solver, load_case)
from pdesolve.config.case import Case, CaseError, KindSpec, case_from_text, validate_case_data
from pdesolve.config.reference import REFERENCE, rewritten
from pdesolve.config.schema import REQUIRED
from pdesolve.fv.backends import BACKENDS, make_backend
from pdesolve.fv.diagnostics import energy
from pdesolve.model.build import build_setup
from pdesolve.model.initial import DENSITIES, initial_density_from_spec
from pdesolve.model.interaction import INTERACTIONS, interaction_from_spec
from pdesolve.model.potentials import POTENTIALS, potential_from_spec
from pdesolve.model.reactions import REACTIONS, Reaction, get_reaction, register
from pdesolve.particles import ParticleDynamics, ParticlePotential, ParticleSystem
from pdesolve.model.potentials import ZeroPotential

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = '[grid]\nlower = [0]\nupper = [1]\ncells = 8\n[time]\nt_end = 1\n'


# --- backends ---------------------------------------------------------------------------------

def test_backends_are_built_once_per_option_set():
    grid = Grid(-1.0, 1.0, 32)
    first = make_backend("numba", grid, 2, 2.0, 0.0)
    assert make_backend("numba", Grid(-1.0, 1.0, 32), 2, 2.0, 0.0) is first
    assert make_backend("numba", grid, 1, 2.0, 0.0) is not first


def test_an_unknown_backend_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="backend must be one of numba, jax, got 'gpu'"):
        make_backend("gpu", Grid(0.0, 1.0, 4), 2, 2.0, 0.0)
    with pytest.raises(CaseError) as info:
        validate_case_data({**_minimal(), "scheme": {"backend": "gpu"}}, "c.toml")
    assert str(info.value) == ("c.toml: scheme.backend: 'gpu' is not allowed "
                               f"(allowed: {', '.join(BACKENDS)})")


def test_without_jax_a_case_asking_for_it_is_refused_in_one_line_before_any_work(
        tmp_path, monkeypatch, capsys):
    """Runs with or without JAX installed: the test hides it."""
    import sys
    from pdesolve.cli import main
    from test_diagnostics_cadence import CASE
    monkeypatch.setitem(sys.modules, "jax", None)   # import jax now fails, as if not installed
    with pytest.raises(CaseError) as info:
        case_from_text(tmp_path / "c.toml", CASE, ("scheme.backend=jax",))
    assert str(info.value) == (f"{tmp_path / 'c.toml'}: scheme.backend: the jax backend needs jax, "
                               "which is not installed (pip install 'pdesolve[jax]')")
    (tmp_path / "c.toml").write_text(CASE)
    assert main(["run", str(tmp_path / "c.toml"), "-o", str(tmp_path / "x.h5"), "--backend", "jax"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pdesolve[jax]" in err and not (tmp_path / "x.h5").exists()
    make_backend.cache_clear()
    with pytest.raises(ValueError, match="not installed"):
        make_backend("jax", Grid(0.0, 1.0, 5), 2, 2.0, 0.0)


def test_the_solver_steps_through_the_backend_the_scheme_names():
    grid = Grid(-3.0, 3.0, 64)
    solver = Solver(Problem(grid, Quadratic([0.0], 1.0)), Scheme(backend="numba"),
                    np.exp(-grid.axes[0] ** 2))
    assert solver.backend is make_backend("numba", grid, 2, 2.0, 0.0)
    assert solver.backend.name == "numba"


def _minimal() -> dict:
    return {"grid": {"lower": [0], "upper": [1], "cells": 8}, "time": {"t_end": 1}}


# --- the reaction registry --------------------------------------------------------------------

def test_the_case_schema_and_reference_list_every_registered_reaction(tmp_path):
    for name, reaction in REACTIONS.items():
        data = _minimal()
        data["dynamics"] = {"reaction": name}
        if reaction.uses_prior:
            data["dynamics"]["prior"] = {"kind": "uniform"}
        assert validate_case_data(data, "c.toml")["dynamics"]["reaction"] == name
    reference = (ROOT / "cases" / "README.md").read_text()
    table = reference[reference.index("| reaction | α R(μ) | mass |"):]
    for name, reaction in REACTIONS.items():
        row = re.search(rf'^\| `"{name}"` \| .* \| (.*) \|$', table, re.MULTILINE)
        assert row, f"cases/README.md has no row for reaction {name!r}"
        assert (row.group(1) == "conserved") == reaction.conserves_mass, name


def test_a_reaction_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register(REACTIONS["balanced"])
    with pytest.raises(ValueError, match="reaction must be one of balanced, unbalanced, none"):
        get_reaction("logistic")


@pytest.fixture
def shifted_decay():
    """A toy reaction R = (U − 1) μ added to the registry for one test: the grid step and
    the particle rule come from its entry alone."""
    def particle_step(system, dt):
        system.weights *= np.exp(-system.alpha * (system.values - 1.0) * dt)

    def jax_particle_step(key, positions, weights, values, alpha, dt, weighted, sample_prior):
        import jax.numpy as jnp
        return positions, weights * jnp.exp(-alpha * (values - 1.0) * dt), True

    reaction = register(Reaction(
        name="shifted_decay", doc="(U − 1) μ", conserves_mass=False, uses_prior=False,
        constant_shift=True, centred_rates=False,
        rate_parameters=lambda backend, mu, u, volume: (1.0, 0.0), particle_step=particle_step,
        jax_particle_step=jax_particle_step))
    yield reaction
    del REACTIONS["shifted_decay"]


def test_a_new_reaction_runs_on_the_grid_and_on_particles_from_its_entry(shifted_decay):
    """dμ/dt = −α(F − 1)μ with no transport: μ(t) = μ₀ e^{−αt(F − 1)} on the grid, and
    w(t) = w₀ e^{−αt(F(θ) − 1)} for weighted particles."""
    grid = Grid(-2.0, 2.0, 40)
    x = grid.axes[0]
    mu0 = np.exp(-x ** 2)
    alpha, t_end = 0.7, 0.5
    problem = Problem(grid, Quadratic([0.0], 1.0), reaction="shifted_decay", alpha=alpha,
                      transport=False)
    solver = Solver(problem, Scheme(dt=0.01), mu0)
    solver.advance(t_end)
    np.testing.assert_allclose(solver.mu, mu0 * np.exp(-alpha * t_end * (0.5 * x ** 2 - 1.0)),
                               rtol=1e-12)
    positions = np.linspace(-1.5, 1.5, 7)[:, None]
    system = ParticleSystem(positions, 1.0, ParticlePotential(Quadratic([0.0], 1.0), None, 7),
                            grid, ParticleDynamics(reaction="shifted_decay", alpha=alpha,
                                                   transport=False),
                            np.random.default_rng(0), weighted=True)
    for _ in range(50):
        system.step(0.01)
    expected = np.exp(-alpha * t_end * (0.5 * positions[:, 0] ** 2 - 1.0)) / 7
    np.testing.assert_allclose(system.weights, expected, rtol=1e-12)
    if importlib.util.find_spec("jax") is not None:     # the JAX grid and particle steps too
        candidate = Solver(problem, Scheme(dt=0.01, backend="jax"), mu0)
        candidate.advance(t_end)
        np.testing.assert_allclose(candidate.mu, solver.mu, rtol=1e-12)
        from pdesolve.particles.jax.system import JaxParticleKernels, JaxParticleSystem
        kernels = JaxParticleKernels(Quadratic([0.0], 1.0), None, grid, system.dynamics,
                                     weighted=True)
        on_jax = JaxParticleSystem(kernels, positions, np.full(7, 1 / 7), [0, 1])
        for _ in range(50):
            on_jax.step(0.01)
        np.testing.assert_allclose(on_jax.weights, expected, rtol=1e-12)
    data = {**_minimal(), "dynamics": {"reaction": "shifted_decay"}}
    assert validate_case_data(data, "c.toml")["dynamics"]["reaction"] == "shifted_decay"


# --- the typed case ---------------------------------------------------------------------------

def test_the_case_is_typed_immutable_and_hashable(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL + '[initial]\nkind = "gaussian"\nstd = 0.2\n')
    case = load_case(path)
    assert case.grid.cells == (8,) and case.time.t_end == 1.0 and case.scheme.backend == "numba"
    assert isinstance(case.initial, KindSpec) and case.initial.kind == "gaussian"
    assert case.initial["std"] == (0.2,)
    with pytest.raises(dataclasses.FrozenInstanceError):
        case.time.t_end = 2.0
    with pytest.raises(TypeError):
        case.initial["std"] = (1.0,)
    assert hash(case.grid) == hash(load_case(path).grid) and case.initial == load_case(path).initial
    assert case.dynamics.prior is None


# --- the Python API ---------------------------------------------------------------------------

def test_grid_defaults_and_scalars():
    assert Grid(-4, 4, 200) == Grid((-4.0,), (4.0,), (200,), (False,))
    assert Grid((0, 0), (1, 2), 16, periodic=True).periodic == (True, True)
    assert Grid((0, 0), (1, 2), (4, 8)).cells == (4, 8)
    assert Grid(np.zeros(2), np.ones(2), np.array([4, 8])) == Grid((0, 0), (1, 1), (4, 8))
    with pytest.raises(ValueError, match="one entry per axis"):
        Grid((0, 0), (1, 2, 3), 4)


def test_problem_takes_potential_and_kernel_objects():
    grid = Grid((-2.0, -2.0), (2.0, 2.0), 16)
    quadratic = Quadratic([0.5, 0.0], 2.0)
    problem = Problem(grid, quadratic, interaction=GaussianKernel(0.5, 1.0))
    np.testing.assert_array_equal(problem.potential, quadratic.on_grid(grid))
    assert isinstance(problem.interaction, ConvolutionInteraction)
    mu = np.ones(grid.shape)
    wrapped, direct = np.empty(grid.shape), np.empty(grid.shape)
    problem.interaction.potential(mu, wrapped)
    ConvolutionInteraction(grid, GaussianKernel(0.5, 1.0)).potential(mu, direct)
    np.testing.assert_array_equal(wrapped, direct)


@pytest.mark.parametrize("field, value, message", [
    ("potential", lambda x: x ** 2, "potential must be an array of the grid's shape or a Potential"),
    ("interaction", "gaussian", "interaction must be None, a grid interaction"),
    ("interaction", np.ones(8), "interaction must be None"),
])
def test_problem_refuses_what_it_cannot_use_at_construction(field, value, message):
    grid = Grid(0.0, 1.0, 8)
    arguments = {"grid": grid, "potential": np.zeros(8), field: value}
    with pytest.raises(TypeError, match=message):
        Problem(**arguments)


def test_solver_reports_mass_energy_and_u():
    grid = Grid(-3.0, 3.0, 48)
    mu0 = np.exp(-(grid.axes[0] - 0.5) ** 2)
    problem = Problem(grid, Quadratic([0.0], 1.0), interaction=GaussianKernel(1.0, 0.3), tau=0.05)
    solver = Solver(problem, Scheme(), mu0)
    solver.advance(0.2)
    assert solver.mass == pytest.approx(grid.integrate(mu0), rel=1e-12)
    assert solver.energy == energy(solver)
    u = solver.potential() + 0.05 * (np.log(solver.mu) + 1.0)
    np.testing.assert_allclose(solver.U, u, rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(solver.U, solver.rates()[0])


def test_zero_potential_object_matches_the_zero_array():
    grid = Grid(0.0, 1.0, 8)
    np.testing.assert_array_equal(Problem(grid, ZeroPotential(1)).potential, np.zeros(8))


# --- the kind registries ----------------------------------------------------------------------

def test_the_case_reference_is_generated_from_the_registries():
    text = REFERENCE.read_text(encoding="utf-8")
    assert rewritten(text) == text, "run python -m pdesolve.config.reference --write"
    for registry in (POTENTIALS, INTERACTIONS, DENSITIES):
        for name in registry:
            assert f'| `"{name}"`' in text


def test_hand_written_tables_take_the_case_file_defaults():
    grid = Grid((-2.0, -2.0), (2.0, 2.0), 12)
    np.testing.assert_array_equal(potential_from_spec({"kind": "quadratic"}, 2).on_grid(grid),
                                  Quadratic([0.0, 0.0], 1.0).on_grid(grid))
    assert interaction_from_spec({"kind": "gaussian"}, grid).kernel == GaussianKernel(1.0, 1.0)
    np.testing.assert_array_equal(initial_density_from_spec({"kind": "gaussian"}, grid),
                                  initial_density_from_spec({"kind": "gaussian", "mean": 0.0,
                                                             "std": 1.0, "mass": 1.0}, grid))


@pytest.mark.parametrize("family, registry, section", [
    ("potential", POTENTIALS, "potential"), ("interaction", INTERACTIONS, "interaction"),
    ("initial", DENSITIES, "initial")])
def test_every_registered_kind_validates_and_builds_from_its_defaults(family, registry, section):
    """A case naming only the kind (and its required keys) loads, and the built object is the
    registry builder's on the validated table: the keys are declared once."""
    fillers = {"expr": "x*x + y*y + 1", "centers": [0.0], "variances": [1.0], "weights": [1.0]}
    for name, kind in registry.items():
        table = {"kind": name, **{k: fillers[k] for k, key in kind.keys.items()
                                  if key.default is REQUIRED}}
        data = {"grid": {"lower": [-2, -2], "upper": [2, 2], "cells": 8}, "time": {"t_end": 1},
                section: table}
        case = Case.from_data("c.toml", "", validate_case_data(data, "c.toml"))
        assert getattr(case, section).kind == name
        build_setup(case)


def test_particles_take_the_built_model_and_draw_from_it_as_from_the_spec(tmp_path):
    """The replicate runner reuses the setup's μ₀ and builds a grid prior once; the draws
    are those of the spec itself, bit for bit."""
    from pdesolve.drive.particle_run import ReplicateRunner, make_plan
    from pdesolve.particles.sampling import sample_density_spec
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL + '[initial]\nkind = "expression"\nexpr = "1 + x"\n'
                    '[dynamics]\nreaction = "reinjection"\n[dynamics.prior]\nkind = "expression"\n'
                    'expr = "2 - x"\n')
    case = load_case(path)
    plan, setup = make_plan(case, n=64, replicates=1)
    runner = ReplicateRunner(plan, setup)
    assert runner.mu0 is setup.mu0 and runner.dynamics.reaction == setup.problem.reaction
    drawn = runner._sample_prior(40, np.random.default_rng(3))
    expected = sample_density_spec(case.dynamics.prior, setup.grid, 40, np.random.default_rng(3))
    np.testing.assert_array_equal(drawn, expected)
    start = runner.start(0)
    rng = np.random.default_rng(np.random.SeedSequence(plan.seed, spawn_key=(0,)))
    np.testing.assert_array_equal(start.positions,
                                  sample_density_spec(case.initial, setup.grid, 64, rng))
