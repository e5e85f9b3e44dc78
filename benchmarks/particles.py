"""Particle benchmarks: direct pair sums against the machine's exp throughput,
particle–mesh step time against n, and the cost of birth–death resampling.

Setting: box [−4, 4]², no-flux faces, F = ½|x|², Gaussian kernel K(d) = exp(−|d|²/2)
(width 1, strength 1), balanced birth–death with α = 1, τ = 0, Euler moves; positions
drawn from N(0, I) cut at the box (seed 0), weights M/n with M = 1; Δt =
``default_time_step(system, cfl=0.5)`` (a particle moves at most half a cell per step).

* Direct sum: ``DirectInteraction.evaluate`` computes V_i = Σ_j w_j K(θ_i − θ_j) and its
  gradient for all i, i.e. n² pair interactions (j = i included).  Two references run
  on the same n² count: ``exp_sweeps`` (one exp per value of an array of n values swept
  n times, summed; in cache, so it measures exp, not memory) and ``gaussian_pair_reference``
  (the same Gaussian pair sum written for this one case: 2-D, no minimum image, local
  accumulators), which separates the cost of exp from the cost of the general kernel.
* Particle–mesh: ``MeshInteraction.evaluate`` (cloud-in-cell deposit, FFT K ⋆ ρ on the
  zero-padded grid, centred differences, one fused interpolation of V and ∇V) and a full
  ``ParticleSystem.step`` (move: V and ∇V, θ ← θ − ∇V Δt, reflection; then birth–death:
  V and ∇V again at the new positions, kill/clone, restore n).  The deposit and the
  interpolation are also timed against ``bilinear_deposit_reference`` and
  ``bilinear_interpolate_reference``: the same stencil written for a bounded 2-D grid.
* Resampling: ``offspring_counts`` + ``restore_population`` on the rates Ṽ = V − mean V
  of the same system, and the gather θ ← θ[kept] that follows them in ``birth_death``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from cases import START_WIDTH, box_grid
from pdesolve.model.grid import centred_derivative
from pdesolve.model.interaction import ConvolutionInteraction, GaussianKernel
from pdesolve.particles.birth_death import birth_death_rates, offspring_counts, restore_population
from pdesolve.particles.interaction import DirectInteraction, MeshInteraction
from pdesolve.particles.mesh_kernels import cic_deposit, cic_interpolate, cic_interpolate_gradient
from pdesolve.particles.potential import ParticlePotential
from pdesolve.particles.system import default_time_step
from pdesolve.particles.sampling import sample_gaussian_in_box
from pdesolve.particles.system import ParticleDynamics, ParticleSystem
from pdesolve.particles.transport import apply_boundary
from pdesolve.model.potentials import Quadratic
from timing import median_seconds

KERNEL = GaussianKernel(1.0, 1.0)
CFL = 0.5
SEED = 0


@njit(parallel=True, cache=True)
def exp_sweeps(x, out):
    """out_i = Σ_j exp(x_j − x_i): n² exponentials over an array of n values."""
    n = x.shape[0]
    for i in prange(n):
        total = 0.0
        for j in range(n):
            total += math.exp(x[j] - x[i])
        out[i] = total


@njit(parallel=True, cache=True)
def gaussian_pair_reference(x, y, weights, values, grad_x, grad_y):
    """values_i = Σ_j w_j e^{−r²/2}, grad_i = −Σ_j w_j (θ_i − θ_j) e^{−r²/2}, r = |θ_i − θ_j|
    (2-D, width 1, no periodic axis), accumulated in registers."""
    n = x.shape[0]
    for i in prange(n):
        v = 0.0
        gx = 0.0
        gy = 0.0
        for j in range(n):
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            k = weights[j] * math.exp(-0.5 * (dx * dx + dy * dy))
            v += k
            gx -= dx * k
            gy -= dy * k
        values[i] = v
        grad_x[i] = gx
        grad_y[i] = gy


@njit(cache=True)
def _bounded_stencil(x, lower, spacing, cells, clamp):
    """(left index, right weight f) of x on a bounded axis, as in ``mesh_kernels``."""
    s = (x - lower) / spacing - 0.5
    left = min(max(math.floor(s), 0), cells - 2)
    f = s - left
    if clamp:
        f = min(max(f, 0.0), 1.0)
    return left, f


@njit(cache=True)
def bilinear_deposit_reference(positions, weights, lower, spacing, cells, out):
    """out_c = Σ_p w_p W_c(θ_p) on a bounded 2-D grid: the library's cloud-in-cell deposit
    written for this one case (positions read directly, no third axis)."""
    out[...] = 0.0
    for p in range(positions.shape[0]):
        i, fx = _bounded_stencil(positions[p, 0], lower[0], spacing[0], cells[0], True)
        j, fy = _bounded_stencil(positions[p, 1], lower[1], spacing[1], cells[1], True)
        w = weights[p]
        out[i, j] += w * (1 - fx) * (1 - fy)
        out[i + 1, j] += w * fx * (1 - fy)
        out[i, j + 1] += w * (1 - fx) * fy
        out[i + 1, j + 1] += w * fx * fy


@njit(cache=True)
def bilinear_interpolate_reference(field, positions, lower, spacing, cells, out):
    """out_p = Σ_c W_c(θ_p) field_c on a bounded 2-D grid: the library's interpolation
    written for this one case (positions read directly, no third axis)."""
    for p in range(positions.shape[0]):
        i, fx = _bounded_stencil(positions[p, 0], lower[0], spacing[0], cells[0], False)
        j, fy = _bounded_stencil(positions[p, 1], lower[1], spacing[1], cells[1], False)
        out[p] = ((1 - fy) * ((1 - fx) * field[i, j] + fx * field[i + 1, j])
                  + fy * ((1 - fx) * field[i, j + 1] + fx * field[i + 1, j + 1]))


def gaussian_positions(cells: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """n points of N(0, I) cut at the box [−4, 4]²."""
    return sample_gaussian_in_box(0.0, START_WIDTH, box_grid(cells), n, rng)


def direct_sum(n: int, threads: int, repeats: int) -> dict[str, float]:
    """Median seconds of the library pair sum, the Gaussian reference and the exp sweep
    on n particles with ``threads`` Numba threads; rates per second of each (n² each)."""
    numba.set_num_threads(threads)
    grid = box_grid((16, 16))
    direct = DirectInteraction(ConvolutionInteraction(grid, KERNEL, workers=1))
    positions = gaussian_positions((16, 16), n, np.random.default_rng(SEED))
    weights = np.full(n, 1.0 / n)
    values, gradient = np.zeros(n), np.zeros((n, 2))
    x, y = np.ascontiguousarray(positions[:, 0]), np.ascontiguousarray(positions[:, 1])
    ref_values, ref_gx, ref_gy = np.zeros(n), np.zeros(n), np.zeros(n)
    exponents = np.random.default_rng(SEED).uniform(-8.0, 0.0, n)
    sums = np.zeros(n)
    library = median_seconds(lambda: direct.evaluate(positions, weights, values, gradient), repeats)
    reference = median_seconds(lambda: gaussian_pair_reference(x, y, weights, ref_values, ref_gx, ref_gy),
                               repeats)
    if not (np.allclose(ref_values, values, rtol=1e-10) and np.allclose(ref_gx, gradient[:, 0], atol=1e-12)
            and np.allclose(ref_gy, gradient[:, 1], atol=1e-12)):
        raise AssertionError("the Gaussian reference disagrees with DirectInteraction")
    exp = median_seconds(lambda: exp_sweeps(exponents, sums), repeats)
    pairs = float(n) * n
    return {"pairs": pairs, "library_s": library, "reference_s": reference, "exp_s": exp,
            "library_rate": pairs / library, "reference_rate": pairs / reference, "exp_rate": pairs / exp}


def mesh_system(cells: tuple[int, int], n: int, workers: int) -> tuple[ParticleSystem, float]:
    """The benchmark particle system with the particle–mesh interaction on ``cells``
    (FFT ``workers``), and its Δt."""
    grid = box_grid(cells)
    mesh = MeshInteraction(ConvolutionInteraction(grid, KERNEL, workers=workers))
    potential = ParticlePotential(Quadratic((0.0, 0.0), 1.0), mesh, n)
    rng = np.random.default_rng(SEED)
    system = ParticleSystem(gaussian_positions(cells, n, rng), 1.0, potential, grid,
                            ParticleDynamics("balanced", 1.0, 0.0), rng)
    return system, default_time_step(system, CFL)


def mesh_step(cells: tuple[int, int], n: int, threads: int, repeats: int) -> dict[str, float]:
    """Median seconds of ``MeshInteraction.evaluate`` and of ``ParticleSystem.step`` with
    ``threads`` Numba threads and FFT workers."""
    numba.set_num_threads(threads)
    system, dt = mesh_system(cells, n, threads)
    mesh = system.potential.interaction
    values, gradient = np.zeros(n), np.zeros((n, 2))
    evaluate = median_seconds(lambda: mesh.evaluate(system.positions, system.weights, values, gradient),
                              repeats)
    step = median_seconds(lambda: system.step(dt), repeats)
    return {"evaluate_s": evaluate, "step_s": step, "dt": dt}


def mesh_step_profile(cells: tuple[int, int], n: int, threads: int,
                      repeats: int) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    """Median seconds of each part of one ``ParticleSystem.step``, timed alone on the
    system's own arrays, and of the whole step.

    A step evaluates V and ∇V twice (before the move and before birth–death); each
    evaluation is one deposit, one FFT potential, centred differences on 2 axes, 3
    interpolations (V, ∂x V, ∂y V) and F, ∇F at the particles.  The move adds
    θ ← θ − ∇V Δt and the reflection; birth–death adds the rates, kill/clone draws,
    the restoration of n and the gather of the kept positions.

    Also returns, for the deposit and one interpolation, (library seconds, seconds of the
    2-D reference kernel above on the same particles); the results must agree.
    """
    numba.set_num_threads(threads)
    system, dt = mesh_system(cells, n, threads)
    mesh = system.potential.interaction
    positions, weights = system.positions, system.weights
    density, potential = np.zeros(cells), np.zeros(cells)
    mesh.deposit(positions, weights, density)
    mesh.interaction.potential(density, potential)
    stencil = (mesh._lower, mesh._spacing, mesh._cells, mesh._periodic)
    external = ParticlePotential(system.potential.potential, None, n)
    values, gradient = np.zeros(n), np.zeros((n, 2))
    system.evaluate()
    rng = np.random.default_rng(SEED)

    def move_update():
        moved = positions - system.gradient * dt
        apply_boundary(moved, system.grid)

    def resample():
        counts = offspring_counts(birth_death_rates(system.values, balanced=True), 1.0, dt, rng)
        np.ascontiguousarray(positions[restore_population(counts, n, rng)])

    parts = {
        "deposit (cloud-in-cell)": median_seconds(lambda: mesh.deposit(positions, weights, density), repeats),
        "FFT potential K ⋆ ρ": median_seconds(lambda: mesh.interaction.potential(density, potential), repeats),
        "centred differences (2 axes)": median_seconds(
            lambda: [centred_derivative(mesh.grid, potential, a) for a in range(2)], repeats),
        "interpolation of V, ∂x V, ∂y V (one fused pass)": median_seconds(
            lambda: cic_interpolate_gradient(mesh._fields, positions, *stencil, values, gradient), repeats),
        "F and ∇F at particles (numpy)": median_seconds(
            lambda: external.evaluate(positions, weights, values, gradient), repeats),
    }
    evaluation = sum(parts.values())
    parts = {f"{name} ×2": 2 * seconds for name, seconds in parts.items()}
    parts["move: θ ← θ − ∇V Δt, reflection"] = median_seconds(move_update, repeats)
    parts["birth–death: rates, kill/clone, restore n, gather"] = median_seconds(resample, repeats)
    parts["sum of the parts"] = 2 * evaluation + parts["move: θ ← θ − ∇V Δt, reflection"] \
        + parts["birth–death: rates, kill/clone, restore n, gather"]
    parts["step() total"] = median_seconds(lambda: system.step(dt), repeats)
    parts["python/numpy glue (step − sum)"] = parts["step() total"] - parts["sum of the parts"]
    return parts, mesh_kernel_references(mesh, positions, weights, potential, repeats)


def mesh_kernel_references(mesh: MeshInteraction, positions: np.ndarray, weights: np.ndarray,
                           field: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    """(library, 2-D reference) median seconds of one deposit and one interpolation of
    ``field``; raises if the two kernels disagree."""
    lower, spacing = mesh._lower[:2], mesh._spacing[:2]
    cells = mesh._cells[:2]
    stencil = (mesh._lower, mesh._spacing, mesh._cells, mesh._periodic)
    library_density, reference_density = np.zeros(field.shape), np.zeros(field.shape)
    library_values, reference_values = np.zeros(positions.shape[0]), np.zeros(positions.shape[0])
    grid3 = mesh.grid.as3d
    timings = {
        "deposit": (
            median_seconds(lambda: cic_deposit(positions, weights, *stencil, grid3(library_density)), repeats),
            median_seconds(lambda: bilinear_deposit_reference(positions, weights, lower, spacing, cells,
                                                              reference_density), repeats)),
        "interpolation": (
            median_seconds(lambda: cic_interpolate(grid3(field), positions, *stencil, library_values), repeats),
            median_seconds(lambda: bilinear_interpolate_reference(field, positions, lower, spacing, cells,
                                                                  reference_values), repeats)),
    }
    if not (np.allclose(library_density, reference_density, rtol=1e-12, atol=1e-15)
            and np.allclose(library_values, reference_values, rtol=1e-12, atol=1e-15)):
        raise AssertionError("the 2-D reference mesh kernels disagree with mesh_kernels")
    return timings


def resampling(cells: tuple[int, int], n: int, repeats: int) -> dict[str, float]:
    """Median seconds of offspring_counts, restore_population and the gather of the
    positions, on the rates of the benchmark system on ``cells`` with its Δt."""
    system, dt = mesh_system(cells, n, 1)
    system.evaluate()
    rates = birth_death_rates(system.values, balanced=True)
    rng = np.random.default_rng(SEED)
    counts = offspring_counts(rates, 1.0, dt, rng)
    kept = restore_population(counts, n, rng)
    return {
        "events_per_particle": float(np.count_nonzero(counts != 1)) / n,
        "offspring_s": median_seconds(lambda: offspring_counts(rates, 1.0, dt, rng), repeats),
        "restore_s": median_seconds(lambda: restore_population(counts, n, rng), repeats),
        "gather_s": median_seconds(lambda: np.ascontiguousarray(system.positions[kept]), repeats),
    }
