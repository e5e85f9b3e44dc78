"""FFT interaction K ⋆ μ against the direct pair sum, kernels, padding and specs."""
import math

import numpy as np
import pytest
from scipy.fft import next_fast_len

from pdesolve.model.grid import Grid
from pdesolve.model.interaction import (
    CallableKernel,
    ConvolutionInteraction,
    ExpressionKernel,
    GaussianKernel,
    NeuronInteraction,
    NoInteraction,
    NormalDensityKernel,
    QuadraticKernel,
    direct_interaction_potential,
    interaction_energy,
    interaction_from_spec,
    minimum_image_offsets,
)

RTOL = 1e-10


def shifted_gaussian(*disp):
    """Non-symmetric kernel k(d) = exp(−Σ_a (d_a − 0.3 (a + 1))²): catches sign and axis mix-ups."""
    return np.exp(-sum((d - 0.3 * (a + 1)) ** 2 for a, d in enumerate(disp)))


def make_grid(cells, periodic):
    ndim = len(cells)
    lower = (-2.0, -1.5, -1.0)[:ndim]
    upper = (1.5, 2.5, 1.2)[:ndim]
    return Grid(lower, upper, cells, periodic)


def random_density(grid, seed=0):
    return np.random.default_rng(seed).random(grid.shape)


def relative_max_error(result, reference):
    return np.max(np.abs(result - reference)) / np.max(np.abs(reference))


def fft_potential(interaction, mu):
    out = np.full(interaction.grid.shape, np.nan)
    interaction.potential(mu, out)
    return out


GRIDS = [
    ((7,), (False,)),
    ((8,), (True,)),
    ((7,), (True,)),
    ((6, 5), (False, False)),
    ((6, 5), (True, True)),
    ((6, 5), (True, False)),
    ((5, 6), (False, True)),
    ((7, 6, 5), (False, False, False)),
    ((7, 6, 5), (True, True, True)),
    ((7, 6, 5), (True, False, True)),
    ((6, 4, 5), (False, True, False)),
]

KERNELS = {
    "gaussian": GaussianKernel(width=0.7, strength=-1.3),
    "quadratic": QuadraticKernel(strength=0.8),
    "shifted": CallableKernel(shifted_gaussian),
}


@pytest.mark.parametrize("cells, periodic", GRIDS)
@pytest.mark.parametrize("kernel_name", sorted(KERNELS))
def test_convolution_matches_direct_sum(cells, periodic, kernel_name):
    grid = make_grid(cells, periodic)
    interaction = ConvolutionInteraction(grid, KERNELS[kernel_name], workers=1)
    mu = random_density(grid)
    direct = direct_interaction_potential(interaction, mu)
    assert relative_max_error(fft_potential(interaction, mu), direct) <= RTOL


def test_direct_sum_is_the_discrete_formula_at_one_cell():
    # (K ⋆ μ)_i = Σ_j k(x_i − x_j) μ_j |c|, minimum image on the periodic axis 0 only.
    grid = make_grid((6, 5), (True, False))
    interaction = ConvolutionInteraction(grid, CallableKernel(shifted_gaussian), workers=1)
    mu = random_density(grid, seed=3)
    x, y = grid.mesh()
    i = (5, 1)
    length = grid.upper[0] - grid.lower[0]
    dx = x[i] - x
    dx = dx - length * np.floor(dx / length + 0.5)
    dx[np.isclose(dx, length / 2)] = -length / 2
    expected = np.sum(shifted_gaussian(dx, y[i] - y) * mu) * grid.cell_volume
    assert direct_interaction_potential(interaction, mu)[i] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cells", [1, 2, 5, 6, 7])
def test_minimum_image_lies_in_half_open_box_and_is_congruent(cells):
    offsets = np.arange(-3 * cells, 3 * cells)
    wrapped = minimum_image_offsets(offsets, cells)
    assert np.all(2 * wrapped >= -cells) and np.all(2 * wrapped < cells)
    assert np.all((wrapped - offsets) % cells == 0)


@pytest.mark.parametrize("cells, periodic", [
    ((5,), (False,)), ((7,), (False,)), ((8,), (True,)),
    ((5, 6), (False, True)), ((6, 7, 5), (True, False, False)),
])
def test_padded_length_is_next_fast_len_of_2n_minus_1(cells, periodic):
    interaction = ConvolutionInteraction(make_grid(cells, periodic), GaussianKernel(0.5), workers=1)
    expected = tuple(n if p else next_fast_len(2 * n - 1, real=True)
                     for n, p in zip(cells, periodic))
    assert interaction.padded_shape == expected


def test_padded_length_is_not_blindly_2n():
    interaction = ConvolutionInteraction(make_grid((5, 8), (False, False)), GaussianKernel(0.5))
    assert interaction.padded_shape == (9, 15)


@pytest.mark.parametrize("make", [
    lambda g: ConvolutionInteraction(g, CallableKernel(shifted_gaussian), workers=1),
    lambda g: NeuronInteraction(g, NormalDensityKernel(0.4), workers=1),
])
def test_repeated_calls_reuse_buffers_without_leaking_state(make):
    grid = make_grid((7, 6, 5), (False, True, False))
    interaction = make(grid)
    mu_a, mu_b = random_density(grid, seed=1), random_density(grid, seed=2)
    kept_a = mu_a.copy()
    first = fft_potential(interaction, mu_a)
    second = fft_potential(interaction, mu_b)
    third = fft_potential(interaction, mu_a)
    assert np.array_equal(first, third)
    assert np.array_equal(mu_a, kept_a)
    direct_b = direct_interaction_potential(interaction, mu_b)
    assert relative_max_error(second, direct_b) <= RTOL


@pytest.mark.parametrize("cells, periodic", [
    ((7, 6), (False, False)),
    ((8, 5), (True, False)),
    ((7, 6, 5), (False, False, False)),
    ((6, 5, 4), (True, False, False)),
    ((7, 6, 5), (False, True, False)),
])
def test_neuron_interaction_matches_direct_sum(cells, periodic):
    grid = make_grid(cells, periodic)
    kernel_z = CallableKernel(shifted_gaussian)
    interaction = NeuronInteraction(grid, kernel_z, workers=1)
    mu = random_density(grid, seed=4)
    direct = direct_interaction_potential(interaction, mu)
    potential = fft_potential(interaction, mu)
    assert relative_max_error(potential, direct) <= RTOL
    reduced = interaction.reduced_potential(mu)
    assert reduced.shape == cells[:-1]
    c = grid.axes[-1]
    assert np.allclose(potential, reduced[..., None] * c, rtol=0, atol=1e-14 * np.max(np.abs(direct)))


def test_neuron_interaction_needs_two_axes():
    with pytest.raises(ValueError):
        NeuronInteraction(make_grid((6,), (False,)), NormalDensityKernel(1.0))


def test_no_interaction_writes_zeros():
    grid = make_grid((4, 3), (False, False))
    interaction = NoInteraction(grid)
    assert np.array_equal(fft_potential(interaction, random_density(grid)), np.zeros(grid.shape))
    assert np.array_equal(direct_interaction_potential(interaction, random_density(grid)),
                          np.zeros(grid.shape))


def test_wrong_density_shape_is_rejected():
    interaction = ConvolutionInteraction(make_grid((6, 5), (False, False)), GaussianKernel(1.0))
    with pytest.raises(ValueError):
        interaction.potential(np.ones((5, 6)), np.empty((6, 5)))


def test_interaction_energy_is_half_the_double_sum():
    grid = make_grid((6, 5), (True, False))
    interaction = ConvolutionInteraction(grid, GaussianKernel(0.6, 2.0), workers=1)
    mu = random_density(grid, seed=5)
    x, y = (m.ravel() for m in grid.mesh())
    length = grid.upper[0] - grid.lower[0]
    dx = x[:, None] - x[None, :]
    dx -= length * np.round(dx / length)
    double_sum = np.sum(interaction.kernel(dx, y[:, None] - y[None, :])
                        * np.outer(mu.ravel(), mu.ravel())) * grid.cell_volume ** 2
    energy = interaction_energy(grid, mu, fft_potential(interaction, mu))
    assert energy == pytest.approx(0.5 * double_sum, rel=1e-12)


# --- kernels -----------------------------------------------------------------

def finite_difference_gradient(kernel, disp, step=1e-6):
    grads = []
    for a in range(len(disp)):
        plus = list(disp)
        minus = list(disp)
        plus[a] = disp[a] + step
        minus[a] = disp[a] - step
        grads.append((kernel(*plus) - kernel(*minus)) / (2 * step))
    return grads


@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("kernel", [
    GaussianKernel(0.8, 1.7),
    QuadraticKernel(2.5),
    NormalDensityKernel(0.6),
    CallableKernel(shifted_gaussian),
])
def test_kernel_gradient_matches_finite_differences(ndim, kernel):
    disp = tuple(np.random.default_rng(ndim).uniform(-1.5, 1.5, size=(4, 3)) for _ in range(ndim))
    analytic = kernel.gradient(*disp)
    assert len(analytic) == ndim
    for exact, approx in zip(analytic, finite_difference_gradient(kernel, disp)):
        assert np.allclose(exact, approx, rtol=1e-6, atol=1e-8)


def test_callable_kernel_gradient_matches_analytic_one():
    disp = (np.linspace(-1, 1, 7)[:, None], np.linspace(-0.5, 2, 5)[None, :])
    grads = CallableKernel(shifted_gaussian).gradient(*disp)
    value = shifted_gaussian(*disp)
    assert np.allclose(grads[0], -2 * (disp[0] - 0.3) * value, rtol=1e-8, atol=1e-10)
    assert np.allclose(grads[1], -2 * (disp[1] - 0.6) * value, rtol=1e-8, atol=1e-10)


def test_kernel_formulas():
    d = (np.array([0.3, -1.2]), np.array([0.5, 0.4]))
    r2 = d[0] ** 2 + d[1] ** 2
    assert np.allclose(GaussianKernel(0.7, 2.0)(*d), 2.0 * np.exp(-r2 / (2 * 0.49)))
    assert np.allclose(QuadraticKernel(3.0)(*d), 1.5 * r2)
    assert np.allclose(NormalDensityKernel(0.5)(*d), np.exp(-r2) / math.pi)
    assert NormalDensityKernel(0.5)(np.array(0.0)) == pytest.approx(1 / math.sqrt(math.pi))


def test_normal_density_is_overlap_of_two_unit_gaussians():
    # k(z − z') = ∫ φ(x − z) φ(x − z') dx for normalised Gaussians of variance s².
    s2, z, zp = 0.5, 0.4, -0.9
    x = np.linspace(-12, 12, 20001)
    phi = lambda u: np.exp(-u ** 2 / (2 * s2)) / math.sqrt(2 * math.pi * s2)
    overlap = np.sum(phi(x - z) * phi(x - zp)) * (x[1] - x[0])
    assert NormalDensityKernel(2 * s2)(np.array(z - zp)) == pytest.approx(overlap, rel=1e-10)


def test_expression_kernel_matches_its_formula():
    kernel = ExpressionKernel("exp(-(x - 0.3)*(x - 0.3) - y*y)", 2)
    d = (np.array([0.1, -0.7, 1.2]), np.array([0.2, 0.0, -0.4]))
    value = np.exp(-(d[0] - 0.3) ** 2 - d[1] ** 2)
    assert np.allclose(kernel(*d), value)
    gx, gy = kernel.gradient(*d)
    assert np.allclose(gx, -2 * (d[0] - 0.3) * value)
    assert np.allclose(gy, -2 * d[1] * value)


# --- specs -------------------------------------------------------------------

def test_spec_none():
    grid = make_grid((5, 4), (False, False))
    assert isinstance(interaction_from_spec({"kind": "none"}, grid), NoInteraction)


def test_spec_gaussian_and_quadratic():
    grid = make_grid((5, 4), (False, True))
    gauss = interaction_from_spec({"kind": "gaussian", "width": 0.5, "strength": -2.0}, grid)
    assert isinstance(gauss, ConvolutionInteraction)
    assert gauss.kernel == GaussianKernel(0.5, -2.0)
    assert interaction_from_spec({"kind": "gaussian", "width": 0.5}, grid).kernel.strength == 1.0
    quad = interaction_from_spec({"kind": "quadratic", "strength": 1.5}, grid, workers=1)
    assert isinstance(quad, ConvolutionInteraction)
    assert quad.kernel == QuadraticKernel(1.5)
    mu = random_density(grid)
    assert relative_max_error(fft_potential(quad, mu),
                              direct_interaction_potential(quad, mu)) <= RTOL


def test_spec_neuron():
    grid = make_grid((7, 6, 5), (False, False, False))
    neuron = interaction_from_spec({"kind": "neuron", "unit_variance": 0.5}, grid)
    assert isinstance(neuron, NeuronInteraction)
    assert neuron.kernel == NormalDensityKernel(1.0)
    assert neuron.padded_shape == (next_fast_len(13, real=True), next_fast_len(11, real=True))


def test_spec_expression():
    grid = make_grid((6, 5), (False, False))
    interaction = interaction_from_spec({"kind": "expression", "expr": "x*x + 2*y*y"}, grid, workers=1)
    assert isinstance(interaction, ConvolutionInteraction)
    mu = random_density(grid)
    reference = ConvolutionInteraction(grid, CallableKernel(lambda x, y: x ** 2 + 2 * y ** 2))
    assert relative_max_error(fft_potential(interaction, mu),
                              direct_interaction_potential(reference, mu)) <= RTOL


@pytest.mark.parametrize("spec", [
    {"kind": "coulomb"},
    {"width": 1.0},
    {"kind": "expression"},
    {"kind": "quadratic", "strength": 1.0, "width": 2.0},
])
def test_bad_specs_are_rejected(spec):
    with pytest.raises(ValueError):
        interaction_from_spec(spec, make_grid((5,), (False,)))
