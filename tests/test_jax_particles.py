"""Particles on JAX (#14 item 2): deterministic runs equal the Numba particles to round-off on
every shipped case (pair sums and particle–mesh, F traced or called back, Euler and Heun);
the random parts have the laws of the numpy rules (Algorithm 1's restore, the kill/duplicate
draws, Langevin noise, the prior draws of reinjection); runs are reproducible from the seed,
independent of the workers, and continue bit for bit from a checkpointed state.  The law of
large numbers and the compare checks on JAX particles are in ``test_comparison.py``.

Runs on JAX's CPU device; nothing here needs a GPU.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

jax = pytest.importorskip("jax")

from test_particles import make_case  # noqa: E402

from pdesolve.cli import main  # noqa: E402
from pdesolve.config.case import load_case  # noqa: E402
from pdesolve.config.shipped import shipped_cases  # noqa: E402
from pdesolve.drive.particle_run import ReplicateRunner, make_plan, run_particles  # noqa: E402
from pdesolve.io.particle_result import read_particles  # noqa: E402
from pdesolve.model.build import build_setup  # noqa: E402
from pdesolve.particles.jax import birth_death  # noqa: E402
from pdesolve.particles.jax.sampling import prior_sampler  # noqa: E402
from pdesolve.particles.sampling import sample_density_spec  # noqa: E402

OBSERVED = ("mass", "mean", "covariance", "energy", "histogram")
TIMES = [0.0, 0.05, 0.1]


def on_both(case_path, overrides=(), **options):
    """run_particles of the case on the numba and on the jax backend."""
    return [run_particles(load_case(case_path, (*overrides, f"scheme.backend={backend}")),
                          workers=1, **options) for backend in ("numba", "jax")]


def worst_relative(first: dict, second: dict) -> float:
    return max(float(np.max(np.abs(first[k] - second[k])) / max(np.max(np.abs(first[k])), 1e-300))
               for k in OBSERVED)


CASES = shipped_cases()
DETERMINISTIC = [path for name, path in CASES.items() if "reinjection" not in name]
MESH_CELLS = 32


@pytest.mark.parametrize("method", ["direct", "mesh"])
@pytest.mark.parametrize("path", DETERMINISTIC, ids=lambda p: p.stem)
def test_weighted_noiseless_runs_equal_the_numba_particles(path, method):
    """Weighted particles with τ = 0 are deterministic: V, ∇V (F, pair sums or the CIC
    deposit, FFT, centred differences and interpolation), the move, the box faces and the
    weight update agree with the Numba backend to round-off (measured ≤ 3e-15).  The mesh is
    the case's grid with at most MESH_CELLS cells per axis: the agreement does not depend on
    its size, the run time does (64³ FFTs on two backends)."""
    cells = [min(n, MESH_CELLS) for n in load_case(path).grid.cells]
    numba, jax_run = on_both(path, ("dynamics.tau=0", f"grid.cells={cells}"), n=200, seed=3, replicates=1,
                             times=TIMES, weighted=True, method=method)
    assert numba["steps"].tolist() == jax_run["steps"].tolist() and numba["dt"] == jax_run["dt"]
    assert worst_relative(numba, jax_run) < 1e-12


EXPRESSION_CASE = """
[grid]
lower = [-3.0, -3.0]
upper = [3.0, 3.0]
cells = [24, 30]
boundary = ["noflux", "periodic"]
[potential]
kind = "expression"
expr = "0.5*x**2 + 0.3*sin(y)"
[interaction]
kind = "gaussian"
width = 0.6
strength = 0.4
[dynamics]
alpha = 2.0
[initial]
kind = "gaussian"
mean = [2.4, 0.5]
std = [0.4, 1.0]
[time]
t_end = 0.6
outputs = 3
"""


@pytest.mark.parametrize("integrator", ["euler", "heun"])
@pytest.mark.parametrize("method", ["direct", "mesh"])
def test_a_called_back_potential_at_a_wall_and_a_periodic_axis(tmp_path, integrator, method):
    """An expression F (evaluated on the host through a callback) on a grid with a wall that
    particles hit and a periodic axis; Heun's predictor folded back at the wall."""
    path = tmp_path / "expr.toml"
    path.write_text(EXPRESSION_CASE)
    numba, jax_run = on_both(path, (f"particles.integrator={integrator}",), n=150, seed=2,
                             replicates=1, dt=0.01, weighted=True, method=method)
    assert worst_relative(numba, jax_run) < 1e-12
    assert np.all(numba["mass"] == pytest.approx(1.0, rel=1e-13))


# --- the random parts ---------------------------------------------------------------------------

@pytest.mark.parametrize("counts", [
    [2, 2, 1, 0, 1, 2, 1, 1],       # N₁ = 10 > n = 8: two random kills
    [1, 0, 2, 0, 1, 1, 0, 1],       # N₁ = 6 < 8, 2 ≤ 6 extra without replacement
    [0, 0, 0, 0, 2, 1, 0, 0],       # N₁ = 3 < 8, 5 > 3 extra with replacement
    [1, 1, 1, 0, 2, 1, 1, 1],       # N₁ = n: unchanged
])
def test_restore_population_keeps_n_and_is_uniform(counts):
    """Each draw: n sorted indices, no index more often than counts allow (without
    replacement), every member kept when N₁ < n.  Over 4000 draws particle i's mean
    multiplicity is counts_i · n / N₁ (every member equally likely) within 5 standard errors."""
    counts = np.array(counts)
    n, n1 = counts.size, counts.sum()
    keys = jax.random.split(jax.random.PRNGKey(7), 4000)
    kept, alive = jax.vmap(lambda k: birth_death.restore_population(k, counts))(keys)
    kept = np.asarray(kept)
    assert np.all(np.asarray(alive)) and kept.shape == (4000, n)
    assert np.all(np.diff(kept, axis=1) >= 0)
    multiplicity = np.stack([(kept == i).sum(axis=1) for i in range(n)], axis=1)
    if n1 >= n or n - n1 <= n1:
        cap = counts if n1 >= n else 2 * counts
        assert np.all(multiplicity <= cap)
    if n1 <= n:
        assert np.all(multiplicity >= counts)
    expected = counts * n / n1
    standard_error = multiplicity.std(axis=0) / np.sqrt(4000)
    assert np.all(np.abs(multiplicity.mean(axis=0) - expected) <= 5 * standard_error + 1e-12)
    if n1 == n:
        assert np.all(kept == np.repeat(np.arange(n), counts))


def test_every_particle_killed_is_reported():
    _, alive = birth_death.restore_population(jax.random.PRNGKey(0), np.zeros(5, dtype=int))
    assert not bool(alive)
    case = make_case({"reaction": "unbalanced", "alpha": 1e6},
                     potential={"kind": "quadratic", "stiffness": 1.0, "center": -9.0},
                     scheme={"backend": "jax"})
    with pytest.raises(RuntimeError, match="killed every particle"):
        run_particles(case, n=20, seed=1, dt=0.1, workers=1)


def test_kill_and_duplicate_frequencies():
    """P(0 copies) = 1 − e^{−αṼΔt} for Ṽ > 0, P(2) = 1 − e^{−α|Ṽ|Δt} for Ṽ < 0, else 1 copy."""
    rates = np.array([2.0, -1.0, 0.0, 0.5])
    draws = np.asarray(jax.vmap(lambda k: birth_death.offspring_counts(k, rates, 0.8, 0.5))(
        jax.random.split(jax.random.PRNGKey(3), 20000)))
    p = -np.expm1(-0.8 * np.abs(rates) * 0.5)
    for i, (value, prob) in enumerate(zip([0, 2, 1, 0], p)):
        hits = np.mean(draws[:, i] == value) if rates[i] else np.mean(draws[:, i] == 1)
        target = prob if rates[i] else 1.0
        assert abs(hits - target) <= 5 * np.sqrt(max(target * (1 - target), 1e-12) / 20000) + 1e-12


@pytest.mark.parametrize("spec", [{"kind": "gaussian", "mean": [2.5], "std": [0.5]},
                                  {"kind": "uniform"}])
def test_prior_draws_have_the_numpy_law(spec):
    """The truncated-normal and the grid-density draws of μ_b: same mean and variance as the
    numpy sampler's, within 5 standard errors, and inside the box."""
    case = load_case(CASES["reinjection_1d"])
    grid = build_setup(case).grid
    from pdesolve.model.initial import initial_density_from_spec
    density = None if spec["kind"] == "gaussian" else initial_density_from_spec(spec, grid)
    ours = np.asarray(prior_sampler(spec, grid, density)(jax.random.PRNGKey(1), 100000))
    theirs = sample_density_spec(spec, grid, 100000, np.random.default_rng(1), density)
    assert np.all(ours >= grid.lower[0]) and np.all(ours < grid.upper[0])
    for statistic in (np.mean, np.var):
        error = np.std(theirs) * np.sqrt(2.0 / 100000) * (2.0 if statistic is np.var else 1.0)
        assert abs(statistic(ours) - statistic(theirs)) < 5 * error * max(1.0, np.std(theirs))


def test_langevin_noise_spreads_as_two_tau_t():
    """F = 0, no reaction, τ = 0.1 far from the walls: Var θ_t = s₀² + 2τt (within 5 SE)."""
    case = make_case({"reaction": "none", "alpha": 0.0, "tau": 0.1}, potential={"kind": "none"},
                     initial={"kind": "gaussian", "mean": 0.0, "std": 0.3},
                     grid={"lower": [-8.0], "upper": [8.0], "cells": [64]},
                     scheme={"backend": "jax"})
    result = run_particles(case, n=20000, seed=4, times=[1.0], dt=0.05, workers=1)
    variance = result["covariance"][0, 0, 0, 0]
    assert variance == pytest.approx(0.09 + 0.2, abs=5 * 0.29 * np.sqrt(2 / 20000))


@pytest.mark.parametrize("reaction", ["reinjection", "reinjection_deficit", "balanced", "unbalanced"])
def test_each_reaction_has_the_numpy_law(reaction):
    """32 replicates on each backend: mean, energy, covariance and mass at two times agree
    within 4.5 two-sample standard errors."""
    path = CASES["reinjection_1d" if "reinjection" in reaction else "gaussian_1d"]
    overrides = (f"dynamics.reaction={reaction}",) if "reinjection" in reaction else \
        (f"dynamics.reaction={reaction}", "time.t_end=0.3")
    numba, jax_run = on_both(path, overrides, n=500, seed=5, replicates=32, times=[0.15, 0.3])
    for name in ("mass", "mean", "energy", "covariance"):
        a, b = numba[name].reshape(32, -1), jax_run[name].reshape(32, -1)
        spread = np.sqrt(a.var(axis=0, ddof=1) / 32 + b.var(axis=0, ddof=1) / 32)
        assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) <= 4.5 * spread + 1e-13), name


# --- reproducibility and state --------------------------------------------------------------

GAUSSIAN_1D = CASES["gaussian_1d"]


def test_a_checkpointed_state_continues_bit_for_bit():
    """A replicate advanced in segments of 7 steps, its state through JSON in between (as the
    HDF5 checkpoint stores it), ends bit for bit as the uninterrupted one."""
    case = load_case(GAUSSIAN_1D, ("time.t_end=0.3", "dynamics.tau=0.05", "scheme.backend=jax"))
    plan, setup = make_plan(case, n=300, seed=9, replicates=1)
    runner = ReplicateRunner(plan, setup)
    whole = runner.start(0)
    rows = runner.advance(whole, lambda: False, segmented=False)
    pieces = runner.start(0)
    pieced = []
    while pieces.next_output < plan.times.size:
        pieced += runner.advance(pieces, lambda: False, segmented=True, checkpoint_steps=7)
        pieces.rng_state = json.loads(json.dumps(pieces.rng_state))
    assert pieces.rng_state["bit_generator"] == "jax" and whole.steps == pieces.steps > 7
    assert np.array_equal(whole.positions, pieces.positions)
    assert [k for k, _ in rows] == [k for k, _ in pieced]
    for (_, first), (_, second) in zip(rows, pieced):
        assert all(np.array_equal(first[name], second[name]) for name in first)


def test_seeded_runs_repeat_and_do_not_depend_on_the_workers():
    case = load_case(GAUSSIAN_1D, ("time.t_end=0.2", "dynamics.tau=0.05", "scheme.backend=jax"))
    one = run_particles(case, n=200, seed=3, replicates=2, workers=1)
    two = run_particles(case, n=200, seed=3, replicates=2, workers=2)
    other = run_particles(case, n=200, seed=4, replicates=2, workers=1)
    for name in OBSERVED:
        assert np.array_equal(one[name], two[name]), name
    assert not np.array_equal(one["mean"], other["mean"])
    # the initial draws are the numpy backend's: the same μ₀ sample on both backends
    numba = run_particles(load_case(GAUSSIAN_1D, ("time.t_end=0.2", "dynamics.tau=0.05")),
                          n=200, seed=3, replicates=2, workers=1)
    assert np.array_equal(numba["mean"][:, 0], one["mean"][:, 0])


def test_particles_command_takes_the_backend_option(tmp_path, capsys):
    out = tmp_path / "p.h5"
    assert main(["particles", str(GAUSSIAN_1D), "--backend", "jax", "--n", "100", "--replicates", "2",
                 "--seed", "1", "--workers", "1", "--set", "time.t_end=0.2", "--quiet",
                 "-o", str(out)]) == 0
    stored = read_particles(out)
    assert "scheme.backend=jax" in stored.attrs["overrides"]
    direct = run_particles(load_case(GAUSSIAN_1D, ("time.t_end=0.2", "scheme.backend=jax")),
                           n=100, seed=1, replicates=2, workers=1)
    assert np.array_equal(stored.mean, direct["mean"]) and np.array_equal(stored.energy, direct["energy"])
