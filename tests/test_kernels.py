"""The Numba kernels against plain NumPy transcriptions of the scheme.

The transport kernels walk lines of cells with branch-free inner loops and clamped or
wrapped stencil indices; the references here compute the same fluxes face by face from
the rules of the scheme (Φ = 0 on a wall face, σ = 0 in a cell next to a wall, wrapped
stencils on periodic axes), so a mistake in the index bookkeeping shows up as a
difference far above round-off.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from pdesolve.fv.backends.numba import reaction as rk
from pdesolve.fv.backends.numba import transport as tk


def minmod_slope(left, centre, right, theta):
    """σ = minmod(θ(μ_c − μ_l), (μ_r − μ_l)/2, θ(μ_r − μ_c)), elementwise."""
    a, b, c = theta * (centre - left), 0.5 * (right - left), theta * (right - centre)
    stacked = np.stack([a, b, c])
    return np.where(stacked.min(0) > 0, stacked.min(0), np.where(stacked.max(0) < 0, stacked.max(0), 0.0))


def slopes(left, centre, right, order, theta):
    """The documented reconstruction: none, MC/minmod (θ ≥ 1), or extremum-preserving (θ = 0)."""
    if order == 1:
        return np.zeros_like(centre)
    if theta > 0:
        return minmod_slope(left, centre, right, theta)
    b = 0.5 * (right - left)
    smooth_extremum = ((centre - left) * (right - centre) < 0) & (np.abs(b) <= np.abs(right - 2 * centre + left))
    cap = 2 * np.maximum(centre, 0.0)
    return np.where(smooth_extremum, np.clip(b, -cap, cap), minmod_slope(left, centre, right, 2.0))


def reference_divergence(mu, v, periodic, inv_h, order, theta, tau):
    """Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a on a grid-shaped array, face by face."""
    total = np.zeros_like(mu)
    for axis, n in enumerate(mu.shape):
        if n < 2:
            continue
        m = np.moveaxis(mu, axis, -1)
        w = np.moveaxis(v, axis, -1)
        if periodic[axis]:
            left, right = np.roll(m, 1, -1), np.roll(m, -1, -1)
        else:
            left = np.concatenate([m[..., :1], m[..., :-1]], -1)
            right = np.concatenate([m[..., 1:], m[..., -1:]], -1)
        sigma = slopes(left, m, right, order, theta)
        if not periodic[axis]:
            sigma[..., 0] = 0.0
            sigma[..., -1] = 0.0
        # Face k lies between cells k and k + 1 (k + 1 wrapped on a periodic axis).
        m_next, w_next, sigma_next = (np.roll(a, -1, -1) for a in (m, w, sigma))
        u = -(w_next - w) * inv_h[axis]
        flux = (np.maximum(u, 0) * (m + 0.5 * sigma) + np.minimum(u, 0) * (m_next - 0.5 * sigma_next)
                - tau * (m_next - m) * inv_h[axis])
        if not periodic[axis]:
            flux[..., -1] = 0.0  # the wall face after the last cell
        divergence = (flux - np.roll(flux, 1, -1)) * inv_h[axis]
        if not periodic[axis]:
            divergence[..., 0] = flux[..., 0] * inv_h[axis]  # the wall face before cell 0 carries 0
        total += np.moveaxis(divergence, -1, axis)
    return total


def kernel_arguments(shape, periodic, spacing):
    """The (shape, periodic, 1/h) arrays the kernels take, padded to three axes."""
    pad = 3 - len(shape)
    return (np.array(tuple(shape) + (1,) * pad, dtype=np.int64),
            np.array(tuple(periodic) + (False,) * pad),
            np.array([1.0 / h for h in spacing] + [1.0] * pad))


def random_state(shape, seed):
    """A rough non-negative density with empty patches and a rough potential."""
    rng = np.random.default_rng(seed)
    mu = rng.random(shape) * (rng.random(shape) > 0.2)
    v = rng.normal(size=shape) + np.linspace(0.0, 2.0, mu.size).reshape(shape)
    return mu, v


GEOMETRIES = [
    ((40,), (False,)),
    ((37,), (True,)),
    ((2,), (False,)),
    ((3,), (True,)),
    ((9000,), (False,)),          # longer than one LINE_CHUNK: the line is split between work items
    ((8193,), (True,)),
    ((12, 9), (False, False)),
    ((11, 10), (True, False)),
    ((7, 13), (False, True)),
    ((4, 3), (True, True)),
    ((1, 17), (False, False)),    # a single-cell leading axis
    ((17, 1), (False, False)),    # a single-cell last axis: lines run along the first
    ((6, 5, 7), (False, False, False)),
    ((5, 6, 4), (True, False, True)),
    ((6, 1, 7), (False, False, True)),
    ((2, 2, 2), (True, True, True)),
]
SCHEMES = [(1, 2.0, 0.0), (2, 2.0, 0.0), (2, 1.0, 0.05), (2, 0.0, 0.0), (2, 2.0, 0.3)]


@pytest.mark.parametrize("shape,periodic", GEOMETRIES)
@pytest.mark.parametrize("order,theta,tau", SCHEMES)
def test_transport_rhs_matches_the_face_by_face_reference(shape, periodic, order, theta, tau):
    mu, v = random_state(shape, seed=sum(shape) + order)
    spacing = [0.3 + 0.1 * a for a in range(len(shape))]
    shape3, periodic3, inv_h = kernel_arguments(shape, periodic, spacing)
    out = np.empty(mu.size)
    tk.transport_rhs(mu.ravel(), v.ravel(), shape3, periodic3, inv_h, theta, order == 2, tau, out)
    expected = -reference_divergence(mu, v, periodic, inv_h, order, theta, tau)
    scale = np.abs(expected).max()
    assert np.max(np.abs(out.reshape(shape) - expected)) <= 1e-13 * scale
    assert abs(out.sum()) <= 1e-12 * scale * out.size ** 0.5  # the fluxes cancel in Σμ


@pytest.mark.parametrize("shape,periodic", [g for g in GEOMETRIES if np.prod(g[0]) < 5000])
def test_transport_stage_is_the_shu_osher_combination(shape, periodic):
    mu, v = random_state(shape, seed=7)
    base = np.random.default_rng(8).random(mu.size)
    shape3, periodic3, inv_h = kernel_arguments(shape, periodic, [0.2] * len(shape))
    out = np.empty(mu.size)
    a, b, dt = 0.25, 0.75, 0.01
    tk.transport_stage(mu.ravel(), v.ravel(), base, a, b, dt, shape3, periodic3, inv_h, 2.0, True, 0.0, out)
    rate = -reference_divergence(mu, v, periodic, inv_h, 2, 2.0, 0.0).ravel()
    np.testing.assert_allclose(out, a * base + b * (mu.ravel() + dt * rate), rtol=1e-13, atol=1e-14)


def test_single_cell_grid_has_no_faces():
    shape3, periodic3, inv_h = kernel_arguments((1,), (False,), [1.0])
    out = np.empty(1)
    tk.transport_stage(np.array([2.0]), np.array([5.0]), np.array([3.0]), 0.25, 0.5, 0.1,
                       shape3, periodic3, inv_h, 2.0, True, 0.0, out)
    assert out[0] == 0.25 * 3.0 + 0.5 * 2.0


@pytest.mark.parametrize("shape,periodic", GEOMETRIES)
def test_max_face_speeds_match_numpy(shape, periodic):
    _, v = random_state(shape, seed=3)
    spacing = [0.5 + 0.25 * a for a in range(len(shape))]
    shape3, periodic3, inv_h = kernel_arguments(shape, periodic, spacing)
    out = np.full(3, np.nan)
    tk.max_face_speeds(v.ravel(), shape3, periodic3, inv_h, out)
    expected = np.zeros(3)
    for axis, n in enumerate(shape):
        if n > 1:
            wrapped = np.concatenate([v, np.take(v, [0], axis=axis)], axis) if periodic[axis] else v
            jumps = np.abs(np.diff(wrapped, axis=axis))
            expected[axis] = jumps.max() * inv_h[axis]
    np.testing.assert_allclose(out, expected, rtol=1e-15)


@njit(cache=True)
def exp_both_ways(x, ours, library):
    """ours = vectorisable_exp(x), library = math.exp(x), elementwise."""
    for i in range(x.size):
        ours[i] = rk.vectorisable_exp(x[i])
        library[i] = math.exp(x[i])


def test_vectorisable_exp_is_within_one_ulp_of_math_exp():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1e-9, 1e-9, 20_000), rng.uniform(-1, 1, 100_000),
                        rng.uniform(-708, 709.7, 100_000)])
    ours, library = np.empty_like(x), np.empty_like(x)
    exp_both_ways(x, ours, library)
    assert np.max(np.abs(ours - library) / np.spacing(library)) <= 1.0


def test_vectorisable_exp_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 709.78, 709.79, 1e4, -745.0, -745.2, -1e4, -720.0])
    ours, library = np.empty_like(x), np.empty_like(x)
    exp_both_ways(x, ours, library)
    assert np.isnan(ours[0])
    np.testing.assert_array_equal(ours[1:8], library[1:8])
    assert ours[8] == library[8] == 5e-324
    np.testing.assert_array_equal(ours[9:11], [0.0, 0.0])
    assert abs(ours[11] - library[11]) <= 1e-320  # subnormal: a few units of the smallest step


@pytest.mark.parametrize("size", [1, 5, rk.BLOCK, rk.BLOCK + 1, 3 * rk.BLOCK + 17])
def test_reaction_update_kernels(size):
    rng = np.random.default_rng(size)
    mu, u = rng.random(size), rng.normal(size=size)
    expected = mu * np.exp(-0.3 * (u - 0.2))
    factors = np.full(size, np.nan)
    rk.exponential_factors(u, 0.2, 0.3, factors)
    np.testing.assert_allclose(factors, np.exp(-0.3 * (u - 0.2)), rtol=3e-16)
    updated = mu.copy()
    partials = np.full((size // rk.BLOCK + 1, 3), np.nan)
    total = rk.multiply(updated, factors, partials)
    np.testing.assert_allclose(updated, expected, rtol=5e-16)
    assert total == pytest.approx(expected.sum(), rel=1e-14)
    updated = mu.copy()
    total = rk.exponential_reaction(updated, u, 0.2, 0.3, partials)
    np.testing.assert_allclose(updated, expected, rtol=5e-16)
    assert total == pytest.approx(expected.sum(), rel=1e-14)


@pytest.mark.parametrize("size", [1, 7, 3 * rk.BLOCK + 5])
def test_moment_and_potential_kernels_match_numpy(size):
    """U = V + τ(log max(μ, 1e-300) + 1) (= V for τ = 0), (Σμ, ΣUμ), (Σμ, ΣU⁺μ, ΣU⁻μ),
    max_{μ>0} |U − s| and μ ← cμ, against numpy, with some empty cells."""
    rng = np.random.default_rng(size + 1)
    mu = rng.random(size) * (rng.random(size) > 0.2)
    v = rng.normal(size=size)
    for tau in (0.0, 0.3):
        u = np.empty(size)
        rk.total_potential(v, mu, tau, u)
        expected = v + tau * (np.log(np.maximum(mu, 1e-300)) + 1.0) if tau else v   # the floor is 1e-300
        np.testing.assert_allclose(u, expected, rtol=1e-15, atol=1e-15)
    for block in (size, rk.BLOCK):
        partials = np.full((size // rk.BLOCK + 1, 3), np.nan)
        mass, first = rk.moment_sums(mu, v, block, partials)
        assert (mass, first) == pytest.approx((mu.sum(), (v * mu).sum()), rel=1e-13)
        mass, positive, negative = rk.signed_moment_sums(mu, v, block, partials)
        assert (mass, positive, negative) == pytest.approx(
            (mu.sum(), (np.maximum(v, 0) * mu).sum(), (np.maximum(-v, 0) * mu).sum()), rel=1e-13)
    live = mu > 0
    assert rk.max_rate(mu, v, 0.4) == (np.abs(v - 0.4)[live].max() if live.any() else 0.0)
    assert rk.max_rate(np.zeros(size), v, 0.4) == 0.0
    scaled = mu.copy()
    rk.scale(scaled, 2.5)
    np.testing.assert_array_equal(scaled, mu * 2.5)


@pytest.mark.parametrize("alpha, dt", [(1.3, 0.05), (1.3, 1e-14)])
def test_reinjection_kernel_is_the_exact_linear_step(alpha, dt):
    """μ ← μ e^{−λΔt} + αqμ_b (1 − e^{−λΔt})/λ, λ = α(U − s) (αqμ_b Δt where λΔt ≈ 0)."""
    rng = np.random.default_rng(3)
    mu, u, prior = rng.random(50), rng.normal(size=50), rng.random(50)
    u[7] = 0.2   # λ = 0 exactly in this cell
    lam = alpha * (u - 0.2)
    gain = np.where(np.abs(lam * dt) > 1e-12, -np.expm1(-lam * dt) / np.where(lam == 0, 1, lam), dt)
    expected = mu * np.exp(-lam * dt) + alpha * 0.7 * prior * gain
    updated = mu.copy()
    total = rk.reinjection_reaction(updated, u, prior, 0.2, 0.7, alpha, dt, 16, np.empty((4, 3)))
    np.testing.assert_allclose(updated, expected, rtol=1e-12)
    assert total == pytest.approx(expected.sum(), rel=1e-13)


@pytest.mark.parametrize("cells", [tk.LINE_CHUNK + 1, 2 * tk.LINE_CHUNK + 3])
@pytest.mark.parametrize("where", ["first", "last", "wrap"])
def test_max_face_speeds_on_lines_split_into_chunks(cells, where):
    """The largest jump in the first cell, the last cell or across the periodic wrap of a
    1-D line longer than one work item; a flat potential has no speed at all."""
    v = np.linspace(0.0, 1e-3, cells)
    jump = {"first": 1, "last": cells - 1, "wrap": None}[where]
    if jump is None:
        v[-1] = 5.0   # reached from cell 0 across the wrap (the largest jump), and from cell −2
        expected = 5.0 - v[0]
    else:
        v[jump:] += 2.0
        expected = 2.0 + 1e-3 / (cells - 1)
    shape3, periodic3, inv_h = kernel_arguments((cells,), (where == "wrap",), [0.5])
    out = np.full(3, np.nan)
    tk.max_face_speeds(v, shape3, periodic3, inv_h, out)
    assert out.tolist() == pytest.approx([expected * 2.0, 0.0, 0.0], rel=1e-12)
    tk.max_face_speeds(np.full(cells, 3.0), shape3, periodic3, inv_h, out)
    assert out.tolist() == [0.0, 0.0, 0.0]


def test_single_cell_grid_has_no_speed_and_no_rate():
    shape3, periodic3, inv_h = kernel_arguments((1,), (False,), [1.0])
    out = np.full(3, np.nan)
    tk.max_face_speeds(np.array([5.0]), shape3, periodic3, inv_h, out)
    assert out.tolist() == [0.0, 0.0, 0.0]
    rate = np.full(1, np.nan)
    tk.transport_rhs(np.array([2.0]), np.array([5.0]), shape3, periodic3, inv_h, 2.0, True, 0.1, rate)
    assert rate.tolist() == [0.0]


def test_every_sum_is_the_same_for_any_number_of_threads():
    """Block sums go to their own slots and are added in order, so a sum's bits do not depend
    on how many threads shared the loop; with one block the sum is the plain one in cell
    order (what the single-thread path of small grids computes)."""
    import numba
    size = 9 * rk.BLOCK + 123
    rng = np.random.default_rng(11)
    mu, u, prior = rng.random(size), rng.normal(size=size), rng.random(size)
    partials = np.empty((size // rk.BLOCK + 1, 3))

    def sums():
        out = [rk.moment_sums(mu, u, rk.BLOCK, partials), rk.signed_moment_sums(mu, u, rk.BLOCK, partials)]
        for kernel, args in ((rk.exponential_reaction, (u, 0.2, 0.3, partials)),
                             (rk.multiply, (np.exp(-u), partials)),
                             (rk.reinjection_reaction, (u, prior, 0.2, 0.7, 1.3, 0.05, rk.BLOCK, partials))):
            updated = mu.copy()
            out.append((kernel(updated, *args), updated))
        return out

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sums()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = sums()
    finally:
        numba.set_num_threads(previous)
    assert one[:2] == many[:2]
    for (total_one, mu_one), (total_many, mu_many) in zip(one[2:], many[2:]):
        assert total_one == total_many and np.array_equal(mu_one, mu_many)
    plain_mass = 0.0
    for value in mu:
        plain_mass += value
    assert rk.moment_sums(mu, u, size, partials)[0] == plain_mass


def _parallel_kernels(module):
    from numba.core.registry import CPUDispatcher
    return {name: value for name, value in vars(module).items()
            if isinstance(value, CPUDispatcher) and value.targetoptions.get("parallel")}


def test_serial_twins_compute_the_parallel_kernels_bit_for_bit():
    """Every parallel kernel has a serial twin (no parfor, its own cache name); the twins of
    the transport stage and rate in 1–3 D (each reconstruction, periodic and walled axes), of
    the face speeds and of every reaction kernel give the parallel kernel's bits."""
    from pdesolve.fv.backends.numba.serial import serial_kernels
    serial_tk, serial_rk = serial_kernels(tk), serial_kernels(rk)
    assert serial_kernels(tk) is serial_tk  # built once per process
    for module, twins in ((tk, serial_tk), (rk, serial_rk)):
        names = _parallel_kernels(module)
        assert len(names) >= 7
        for name, kernel in names.items():
            twin = getattr(twins, name)
            assert not twin.targetoptions.get("parallel") and twin.py_func.__qualname__ == f"{name}_serial"
            assert twin.py_func.__code__ is kernel.py_func.__code__
    rng = np.random.default_rng(5)
    for shape, periodic in (((37, 1, 1), (False,) * 3), ((9, 13, 1), (True, False, False)),
                            ((5, 6, 7), (False, True, False))):
        size = int(np.prod(shape))
        shape_a, periodic_a = np.array(shape, dtype=np.int64), np.array(periodic)
        inv_h = np.array([3.0, 5.0, 7.0])
        mu, v, base = rng.random(size), rng.normal(size=size), rng.random(size)
        axes = tk.kernel_axes(shape_a)
        for second_order, theta in ((False, 1.0), (True, 2.0), (True, 0.0)):
            outputs = []
            for kernels in (tk, serial_tk):
                stage, rate = np.empty(size), np.empty(size)
                getattr(kernels, tk.STAGE_KERNELS[axes].__name__)(
                    mu, v, base, 0.25, 0.75, 1e-3, shape_a, periodic_a, inv_h, theta, second_order, 0.1, stage)
                getattr(kernels, tk.RHS_KERNELS[axes].__name__)(
                    mu, v, shape_a, periodic_a, inv_h, theta, second_order, 0.1, rate)
                speeds = np.empty(3)
                kernels.max_face_speeds(v, shape_a, periodic_a, inv_h, speeds)
                outputs.append((stage, rate, speeds))
            for parallel_out, serial_out in zip(*outputs):
                assert np.array_equal(parallel_out, serial_out)
    size = 3 * rk.BLOCK + 17
    mu, u, prior = rng.random(size), rng.normal(size=size), rng.random(size)
    partials = np.empty((4, 3))

    def reaction_results(kernels):
        out = [kernels.moment_sums(mu, u, size, partials), kernels.signed_moment_sums(mu, u, size, partials),
               kernels.max_rate(mu, u, 0.3)]
        for kernel, args in ((kernels.exponential_reaction, (u, 0.2, 0.3, partials)),
                             (kernels.multiply, (np.exp(-u), partials)),
                             (kernels.reinjection_reaction, (u, prior, 0.2, 0.7, 1.3, 0.05, size, partials)),
                             (kernels.zero_below, (0.5, partials)), (kernels.scale, (1.7,))):
            updated = mu.copy()
            out.append((kernel(updated, *args), updated.tolist()))
        factors, potential = np.empty(size), np.empty(size)
        kernels.exponential_factors(u, 0.1, 0.4, factors)
        kernels.total_potential(u, mu, 0.2, potential)
        return out + [factors.tolist(), potential.tolist()]

    assert reaction_results(rk) == reaction_results(serial_rk)


def test_small_grids_run_the_serial_twins_and_large_ones_the_parallel_kernels():
    from pdesolve.fv.backends.numba.backend import PARALLEL_MIN_CELLS, NumbaBackend
    from pdesolve.model.grid import Grid
    small = NumbaBackend(Grid((0.0,), (1.0,), (PARALLEL_MIN_CELLS - 1,), (False,)), 2, 2.0, 0.0)
    large = NumbaBackend(Grid((0.0,), (1.0,), (PARALLEL_MIN_CELLS,), (False,)), 2, 2.0, 0.0)
    assert small._stage_kernel.py_func.__name__ == "transport_stage_1d_serial"
    assert small._rk.moment_sums.py_func.__name__ == "moment_sums_serial"
    assert large._stage_kernel is tk.transport_stage_1d and large._rk is rk and large._tk is tk
