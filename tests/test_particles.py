"""Tests of the particle module (DESIGN §4, seed §5–6, Algorithm 1)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pdesolve.config.case import Case, validate_case_data
from pdesolve.analysis.exact import GaussianFlow
from pdesolve.model.grid import Grid
from pdesolve.model.interaction import (ConvolutionInteraction, GaussianKernel, NeuronInteraction,
                                  NormalDensityKernel)
from pdesolve.particles import (DirectInteraction, MeshInteraction, ParticleDynamics,
                                ParticlePotential, ParticleSystem, apply_boundary,
                                gillespie_birth_death, offspring_counts, restore_population,
                                sample_gaussian_in_box)
from pdesolve.drive.particle_run import run_particles
from pdesolve.model.potentials import Quadratic, ZeroPotential


def make_case(dynamics: dict, *, potential=None, interaction=None, initial=None,
              grid=None, particles=None, t_end: float = 1.0, scheme=None) -> Case:
    data = {
        "scheme": scheme or {},
        "grid": grid or {"lower": [-5.0], "upper": [5.0], "cells": [200]},
        "potential": potential or {"kind": "quadratic", "stiffness": 1.0},
        "interaction": interaction or {"kind": "none"},
        "dynamics": dynamics,
        "initial": initial or {"kind": "gaussian", "mean": 1.0, "std": 0.5},
        "time": {"t_end": t_end, "outputs": 2},
        "particles": particles or {},
    }
    return Case.from_data(Path("<test>"), "", validate_case_data(data, "<test>"))


def test_algorithm1_keeps_population_size_exactly():
    grid = Grid((-5.0,), (5.0,), (100,), (False,))
    rng = np.random.default_rng(0)
    n = 301
    system = ParticleSystem(sample_gaussian_in_box([1.0], [0.5], grid, n, rng), 1.0,
                            ParticlePotential(Quadratic([0.0], 1.0), None, n), grid,
                            ParticleDynamics(alpha=5.0), rng)
    for _ in range(50):
        system.step(0.05)
        assert system.positions.shape == (n, 1)
        assert system.weights.sum() == pytest.approx(1.0)
    # birth–death really acted: clones share positions
    assert np.unique(system.positions).size < n


@pytest.mark.parametrize("reaction", ["balanced", "unbalanced"])
def test_zero_rates_change_nothing(reaction):
    """F constant (zero), K = 0, no transport: Ṽ ≡ 0, so no particle is killed or cloned."""
    grid = Grid((-5.0,), (5.0,), (100,), (False,))
    rng = np.random.default_rng(1)
    start = sample_gaussian_in_box([0.0], [1.0], grid, 500, rng)
    system = ParticleSystem(start, 2.0, ParticlePotential(ZeroPotential(1), None, 500), grid,
                            ParticleDynamics(reaction=reaction, alpha=10.0, transport=False), rng)
    for _ in range(20):
        system.step(0.1)
    np.testing.assert_array_equal(system.positions, start)
    assert system.weights.sum() == pytest.approx(2.0, rel=1e-14)


def test_kill_and_clone_frequencies_match_probabilities():
    """Counts of kills (Ṽ > 0) and clones (Ṽ < 0) are Binomial(n, 1 − exp(−α|Ṽ|Δt))."""
    rng = np.random.default_rng(2)
    alpha, dt = 2.0, 0.1
    rates = np.concatenate((np.full(20000, 1.5), np.full(20000, -0.7), np.zeros(1000)))
    counts = offspring_counts(rates, alpha, dt, rng)
    kills = int(np.sum(counts[:20000] == 0))
    clones = int(np.sum(counts[20000:40000] == 2))
    p_kill, p_clone = 1 - np.exp(-alpha * 1.5 * dt), 1 - np.exp(-alpha * 0.7 * dt)
    assert stats.binomtest(kills, 20000, p_kill).pvalue > 1e-3
    assert stats.binomtest(clones, 20000, p_clone).pvalue > 1e-3
    assert np.all(counts[:20000] <= 1) and np.all(counts[20000:40000] >= 1)
    assert np.all(counts[40000:] == 1)
    kept = restore_population(counts, 41000, rng)
    assert kept.size == 41000 and np.all(np.bincount(kept, minlength=41000)[counts == 0] == 0)


def test_gillespie_agrees_with_time_discretised_birth_death():
    """Pure balanced birth–death, K = 0: exact KMC and Algorithm 1 at Δt = 0.01 give the same
    law of the population mean at t = 0.5 (two-sample KS over replicates)."""
    n, replicates, t = 50, 300, 0.5
    case = make_case({"reaction": "balanced", "alpha": 2.0, "transport": False})
    discrete = run_particles(case, n=n, seed=3, times=[0.0, t], dt=0.01,
                             replicates=replicates)["mean"][:, -1, 0]
    grid = Grid((-5.0,), (5.0,), (200,), (False,))
    rng = np.random.default_rng(4)
    exact = np.empty(replicates)
    for r in range(replicates):
        theta = sample_gaussian_in_box([1.0], [0.5], grid, n, rng)[:, 0]
        members = gillespie_birth_death(0.5 * theta ** 2, 2.0, np.array([t]), rng)
        exact[r] = theta[members[-1]].mean()
    assert stats.ks_2samp(discrete, exact).pvalue > 1e-3
    # and both moved to the bottom of the well as the PDE says (m p = m0 p0, p = p0 + α a t)
    flow_mean = GaussianFlow(a=1.0, m0=(1.0,), s0=0.5, alpha=2.0, reaction="balanced",
                             transport=False).state(t).mean[0]
    for sample in (discrete, exact):
        assert abs(sample.mean() - flow_mean) < 0.03


@pytest.mark.parametrize("form", ["translation", "neuron"])
def test_particle_mesh_matches_direct_sum_to_second_order(form):
    """|PM − direct| (V and ∇V, max over particles) falls like h²: the two cloud-in-cell
    interpolations smooth the kernel by O(h²) and centred differences err by O(h²)."""
    rng = np.random.default_rng(5)
    n = 2000
    positions = np.ascontiguousarray(rng.normal(0.0, 1.0, (n, 2)).clip(-3.5, 3.5))
    weights = np.full(n, 1.0 / n)
    errors = []
    for cells in (32, 64):
        grid = Grid((-4.0, -4.0), (4.0, 4.0), (cells, cells), (False, False))
        if form == "translation":
            interaction = ConvolutionInteraction(grid, GaussianKernel(1.0, 1.0))
        else:
            interaction = NeuronInteraction(grid, NormalDensityKernel(1.0))
        values = {}
        for name, evaluator in (("direct", DirectInteraction(interaction)),
                                ("mesh", MeshInteraction(interaction))):
            v, g = np.zeros(n), np.zeros((n, 2))
            evaluator.evaluate(positions, weights, v, g)
            values[name] = np.concatenate((v, g.ravel()))
        errors.append(np.max(np.abs(values["mesh"] - values["direct"])))
    h32 = 8.0 / 32
    assert errors[0] < 0.2 * h32 ** 2          # measured 0.11 h² (Gaussian k), 0.016 h² (neuron)
    assert errors[1] < 0.35 * errors[0]        # ratio ≈ 1/4: second order


def test_same_seed_same_trajectory():
    case = make_case({"reaction": "balanced", "alpha": 1.0, "tau": 0.1},
                     interaction={"kind": "gaussian", "width": 1.0, "strength": 0.5})
    first = run_particles(case, n=200, seed=7, dt=0.02, replicates=2)
    second = run_particles(case, n=200, seed=7, dt=0.02, replicates=2)
    other = run_particles(case, n=200, seed=8, dt=0.02, replicates=2)
    for key in ("mean", "covariance", "energy", "histogram"):
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["mean"], other["mean"])


@pytest.mark.parametrize("integrator", ["euler", "heun"])
def test_pure_transport_mean_follows_exact_flow(integrator):
    """α = 0, K = 0, F = (a/2)θ², τ = 0: mean m₀e^{−at} within 4 standard errors."""
    a, n, t = 1.5, 20000, 1.0
    case = make_case({"reaction": "none", "alpha": 0.0},
                     potential={"kind": "quadratic", "stiffness": a},
                     particles={"integrator": integrator})
    result = run_particles(case, n=n, seed=11, times=[0.0, t], dt=0.002)
    exact = GaussianFlow(a=a, m0=(1.0,), s0=0.5).state(t)
    standard_error = np.sqrt(result["covariance"][0, -1, 0, 0] / n)
    assert abs(result["mean"][0, -1, 0] - exact.mean[0]) < 4 * standard_error
    assert result["covariance"][0, -1, 0, 0] == pytest.approx(exact.variance[0], rel=0.05)


def test_law_of_large_numbers_rate():
    """Transport + balanced birth–death: mean error over replicates ∝ n^(−1/2)."""
    case = make_case({"reaction": "balanced", "alpha": 1.0})
    t = 0.5
    exact = GaussianFlow(a=1.0, m0=(1.0,), s0=0.5, alpha=1.0, reaction="balanced").state(t).mean[0]
    sizes = np.array([100, 1000, 10000])
    errors = [np.mean(np.abs(run_particles(case, n=int(n), seed=13, times=[0.0, t], dt=0.0025,
                                           replicates=20)["mean"][:, -1, 0] - exact))
              for n in sizes]
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -0.7 <= slope <= -0.3, (slope, errors)


def test_unbalanced_mass_follows_exact_mass():
    """Unbalanced, K = 0: M(t) = M₀ exp(−α ∫ ∫V dμ/M ds) (DESIGN §3)."""
    case = make_case({"reaction": "unbalanced", "alpha": 1.0})
    result = run_particles(case, n=5000, seed=17, times=[0.0, 0.5], dt=0.005)
    flow = GaussianFlow(a=1.0, m0=(1.0,), s0=0.5, alpha=1.0, reaction="unbalanced")
    assert result["mass"][0, -1] == pytest.approx(flow.mass(0.5), rel=0.02)
    assert result["mass"][0, -1] < 0.9


def test_weighted_particles_follow_balanced_flow():
    """Weighted particles (deterministic reaction) track the exact transport + balanced mean."""
    case = make_case({"reaction": "balanced", "alpha": 1.0})
    result = run_particles(case, n=20000, seed=19, times=[0.0, 1.0], dt=0.002, weighted=True)
    exact = GaussianFlow(a=1.0, m0=(1.0,), s0=0.5, alpha=1.0, reaction="balanced").state(1.0)
    assert result["mass"][0, -1] == pytest.approx(1.0)
    assert result["mean"][0, -1, 0] == pytest.approx(exact.mean[0], abs=0.01)
    assert result["covariance"][0, -1, 0, 0] == pytest.approx(exact.variance[0], rel=0.05)


def test_reinjection_keeps_n_and_draws_from_prior():
    """F > 0 everywhere: particles die and are refilled from a prior far from the start."""
    case = make_case({"reaction": "reinjection", "alpha": 2.0, "transport": False,
                      "prior": {"kind": "gaussian", "mean": -3.0, "std": 0.1}},
                     potential={"kind": "expression", "expr": "1 + 0*x"})
    result = run_particles(case, n=1000, seed=23, times=[0.0, 0.5], dt=0.01)
    refilled = 1 - np.exp(-2.0 * 0.5)           # fraction of the start killed by t = 0.5
    assert result["mass"][0, -1] == pytest.approx(1.0)
    expected_mean = (1 - refilled) * 1.0 + refilled * -3.0
    assert result["mean"][0, -1, 0] == pytest.approx(expected_mean, abs=0.15)


def test_boundary_reflects_and_wraps():
    grid = Grid((0.0, 0.0), (1.0, 1.0), (4, 4), (False, True))
    positions = np.array([[-0.25, -0.25], [1.25, 1.25], [2.5, 3.75]])
    apply_boundary(positions, grid)
    np.testing.assert_allclose(positions, [[0.25, 0.75], [0.75, 0.25], [0.5, 0.75]])


def test_histogram_is_a_density_with_the_run_mass():
    case = make_case({"reaction": "none", "alpha": 0.0}, initial={"kind": "gaussian", "mean": 0.0,
                                                                  "std": 1.0, "mass": 3.0})
    result = run_particles(case, n=1000, seed=29, times=[0.0])
    assert result["histogram"].shape == (1, 1, 200)                # (R, T, *cells)
    assert result["histogram"][0, 0].sum() * 10.0 / 200 == pytest.approx(3.0)
    assert result["mass"][0, 0] == pytest.approx(3.0)


def test_heun_predictor_folded_at_a_wall_is_not_undone():
    """A particle driven through the wall: Heun is θ − ½(∇V(θ) + ∇V(θ*))Δt with θ* the folded
    Euler point (the numpy rule once added the Euler step back to the folded point)."""
    grid = Grid((-1.0,), (1.0,), (10,), (False,))
    potential = Quadratic([3.0], 1.0)                  # ∇F = θ − 3: pushes right, through x = 1
    system = ParticleSystem(np.array([[0.9]]), 1.0, ParticlePotential(potential, None, 1), grid,
                            ParticleDynamics(reaction="none", alpha=0.0, integrator="heun"),
                            np.random.default_rng(0))
    system.step(0.1)
    trial = 2.0 * 1.0 - (0.9 + 0.21)                   # 1.11 folded back to 0.89
    expected = 0.9 - 0.5 * ((0.9 - 3.0) + (trial - 3.0)) * 0.1
    assert system.positions[0, 0] == pytest.approx(2.0 - expected, rel=1e-14)   # folded again
