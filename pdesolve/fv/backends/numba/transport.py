"""Numba kernels for the finite-volume transport operator  −∇·(μ u) + τΔμ,  u = −∇V.

Arrays are flat C-ordered views of a grid padded to three axes (``shape`` holds the
three cell counts, unit counts for absent axes).  Along axis a, the face i+½ between
cells i and i+1 carries the flux (Carrillo, Chertock & Huang 2015)

    u_{i+½} = −(V_{i+1} − V_i) / h_a
    Φ_{i+½} = max(u, 0) μ⁻_{i+½} + min(u, 0) μ⁺_{i+½} − τ (μ_{i+1} − μ_i) / h_a

with μ⁻ = μ_i + σ_i/2, μ⁺ = μ_{i+1} − σ_{i+1}/2 and σ the limited slope times h
(σ = 0 for first order).  No-flux walls carry Φ = 0; periodic axes wrap around.

Walls are handled by ghost cells, not by branches: the stencil index i ± 1, i ± 2 of
a cell is wrapped on a periodic axis and clamped to [0, n − 1] at a wall, so a
missing neighbour reads the wall cell itself.  Then the wall face has V_{i+1} = V_i
and μ_{i+1} = μ_i, hence u = 0 and Φ = 0, and the slope of a cell with a missing
neighbour is σ = reconstruction_slope(μ_i, μ_i, ·) = 0: exactly the boundary rule above.

Work is organised in lines along the last axis with more than one cell (memory
contiguous).  All cells of a line share their neighbour offsets along the other axes,
and the cells of a line at least two cells from its ends share them along the line
too, so each such stretch is one branch-free loop over contiguous array views, which
the compiler vectorises; only the two end cells at each end of a line use wrapped or
clamped offsets.  Along the line each face flux and slope is computed once and carried
to the next cell; across lines each cell computes both its faces (a face flux is the
same expression in both cells, so the fluxes still cancel exactly in Σμ).  The
reconstruction variant and the number of axes are compile-time constants of the loops
(numba.literally), so the inner loops branch neither on the scheme nor on the grid.
"""
from __future__ import annotations

from numba import literally, njit, prange

# Cells of the contiguous axis per parallel work item: long lines (1-D grids) are split
# so that threads share them, and a chunk of out (32 kB) stays in cache between the
# divergence loop and the stage update that reads it back.
LINE_CHUNK = 4096

# Reconstruction variants: compile-time constants of the loops, so that each is branch-free.
FIRST_ORDER = 0
TVD_LIMITER = 1
EXTREMUM_LIMITER = 2


@njit
def neighbour(i, offset, n, periodic):
    """Index of the stencil cell i + offset on an axis of n ≥ 2 cells: wrapped around
    on a periodic axis, clamped to the wall cell (a ghost copy of it) otherwise."""
    j = i + offset
    if periodic:
        if j < 0:
            j += n
        elif j >= n:
            j -= n
        return j
    return min(max(j, 0), n - 1)


@njit
def minmod_slope(left, centre, right, theta):
    """Generalised minmod σ = minmod(θ(μ_c − μ_l), (μ_r − μ_l)/2, θ(μ_r − μ_c)), θ ∈ [1, 2].

    minmod(a, b, c) is min(a, b, c) if all are > 0, max(a, b, c) if all are < 0, else 0,
    written as selects so that loops over cells vectorise.
    """
    a = theta * (centre - left)
    b = 0.5 * (right - left)
    c = theta * (right - centre)
    smallest = min(a, min(b, c))
    largest = max(a, max(b, c))
    if smallest > 0.0:
        return smallest
    if largest < 0.0:
        return largest
    return 0.0


@njit
def extremum_slope(left, centre, right):
    """The extremum-preserving limiter (θ = 0 in :class:`pdesolve.model.problem.Scheme`): the
    θ = 2 minmod slope away from extrema, but at a smooth extremum
    (|μ_r − μ_l|/2 ≤ |μ_r − 2μ_c + μ_l|) the centred difference, capped at |σ| ≤ 2μ_c.
    Both candidates are computed and one is selected, so that loops over cells vectorise."""
    b = 0.5 * (right - left)
    smooth_extremum = (((centre - left) * (right - centre) < 0.0)
                       & (abs(b) <= abs(right - 2.0 * centre + left)))
    cap = 2.0 * max(centre, 0.0)
    capped = min(max(b, -cap), cap)
    monotone = minmod_slope(left, centre, right, 2.0)
    return capped if smooth_extremum else monotone


@njit
def face_flux(m_minus, m_plus, m_l, m_r, v_l, v_r, inv_h, tau):
    """Φ = max(u, 0) μ⁻ + min(u, 0) μ⁺ − τ (μ_r − μ_l)/h with u = −(V_r − V_l)/h, through
    the face between cells l and r with reconstructed face values μ⁻ (from l), μ⁺ (from r)."""
    u = -(v_r - v_l) * inv_h
    return max(u, 0.0) * m_minus + min(u, 0.0) * m_plus - tau * (m_r - m_l) * inv_h


@njit(inline="always")
def reconstruction_slope(left, centre, right, theta, variant):
    """Limited difference σ (slope × h) of the linear reconstruction in a cell.

    FIRST_ORDER: σ = 0.  TVD_LIMITER: generalised minmod with θ ∈ [1, 2] (θ = 1 minmod,
    θ = 2 monotonised central).  EXTREMUM_LIMITER: :func:`extremum_slope`.  Every
    variant keeps both face values μ_c ± σ/2 ≥ 0, which is what positivity and energy
    dissipation of the scheme need.
    """
    if variant == FIRST_ORDER:
        return 0.0
    if variant == EXTREMUM_LIMITER:
        return extremum_slope(left, centre, right)
    return minmod_slope(left, centre, right, theta)


@njit(inline="always")
def reconstructed_face_flux(m_l, m_r, s_l, s_r, v_l, v_r, inv_h, tau, variant):
    """Φ through the face between cells l and r with slopes σ_l, σ_r: μ⁻ = μ_l + σ_l/2,
    μ⁺ = μ_r − σ_r/2 (μ⁻ = μ_l, μ⁺ = μ_r for first order)."""
    if variant == FIRST_ORDER:
        return face_flux(m_l, m_r, m_l, m_r, v_l, v_r, inv_h, tau)
    return face_flux(m_l + 0.5 * s_l, m_r - 0.5 * s_r, m_l, m_r, v_l, v_r, inv_h, tau)


@njit(inline="always")
def cell_divergence(m_ll, m_l, m_c, m_r, m_rr, v_l, v_c, v_r, inv_h, theta, variant, tau):
    """(Φ_{i+½} − Φ_{i−½}) / h along one axis from the stencil μ_{i−2..i+2}, V_{i−1..i+1}."""
    s_l = reconstruction_slope(m_ll, m_l, m_c, theta, variant)
    s_c = reconstruction_slope(m_l, m_c, m_r, theta, variant)
    s_r = reconstruction_slope(m_c, m_r, m_rr, theta, variant)
    upper = reconstructed_face_flux(m_c, m_r, s_c, s_r, v_c, v_r, inv_h, tau, variant)
    lower = reconstructed_face_flux(m_l, m_c, s_l, s_c, v_l, v_c, inv_h, tau, variant)
    return (upper - lower) * inv_h


@njit
def stencil_offsets(index, n, stride, periodic):
    """Flat offsets (o_ll, o_l, o_r, o_rr) of the stencil cells i − 2, i − 1, i + 1, i + 2
    of the cell at position ``index`` of n cells along an axis of the given stride."""
    return ((neighbour(index, -2, n, periodic) - index) * stride,
            (neighbour(index, -1, n, periodic) - index) * stride,
            (neighbour(index, 1, n, periodic) - index) * stride,
            (neighbour(index, 2, n, periodic) - index) * stride)


@njit
def cells_divergence(mu, v, out, first, count, off_a, off_b, h_a, h_b, h_c,
                     theta, tau, axes, variant):
    """out[f] = Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a for the ``count`` consecutive cells
    f = first, first + 1, … of a line along C that are at least two cells from its ends
    and whose stencils along A and B lie at the same flat offsets ``off_a``, ``off_b``
    (tuples o_ll, o_l, o_r, o_rr); the last ``axes`` of the axes A, B, C of
    :func:`line_geometry` are present.  Along C each face flux and slope is computed once
    and carried to the next cell.  Compiled once per constant (axes, variant), so the loop
    is branch-free and vectorises."""
    literally(axes)
    literally(variant)
    if count <= 0:
        return
    m = mu[first:first + count]
    w = v[first:first + count]
    target = out[first:first + count]
    a_ll = mu[first + off_a[0]:first + off_a[0] + count]
    a_l = mu[first + off_a[1]:first + off_a[1] + count]
    a_r = mu[first + off_a[2]:first + off_a[2] + count]
    a_rr = mu[first + off_a[3]:first + off_a[3] + count]
    w_al = v[first + off_a[1]:first + off_a[1] + count]
    w_ar = v[first + off_a[2]:first + off_a[2] + count]
    b_ll = mu[first + off_b[0]:first + off_b[0] + count]
    b_l = mu[first + off_b[1]:first + off_b[1] + count]
    b_r = mu[first + off_b[2]:first + off_b[2] + count]
    b_rr = mu[first + off_b[3]:first + off_b[3] + count]
    w_bl = v[first + off_b[1]:first + off_b[1] + count]
    w_br = v[first + off_b[2]:first + off_b[2] + count]
    c_r = mu[first + 1:first + 1 + count]
    c_rr = mu[first + 2:first + 2 + count]
    w_cr = v[first + 1:first + 1 + count]
    # Slope of the first cell and flux through its lower face along C; in the loop,
    # cell j's upper face is cell j + 1's lower face, and σ_{j+1} its slope.
    slope = reconstruction_slope(mu[first - 1], mu[first], mu[first + 1], theta, variant)
    lower = reconstructed_face_flux(
        mu[first - 1], mu[first],
        reconstruction_slope(mu[first - 2], mu[first - 1], mu[first], theta, variant), slope,
        v[first - 1], v[first], h_c, tau, variant)
    for j in range(count):
        next_slope = reconstruction_slope(m[j], c_r[j], c_rr[j], theta, variant)
        upper = reconstructed_face_flux(m[j], c_r[j], slope, next_slope, w[j], w_cr[j],
                                        h_c, tau, variant)
        d_c = (upper - lower) * h_c
        lower = upper
        slope = next_slope
        if axes == 1:
            div = d_c
        else:
            d_b = cell_divergence(b_ll[j], b_l[j], m[j], b_r[j], b_rr[j], w_bl[j], w[j], w_br[j],
                                  h_b, theta, variant, tau)
            if axes == 2:
                div = d_b + d_c
            else:
                d_a = cell_divergence(a_ll[j], a_l[j], m[j], a_r[j], a_rr[j], w_al[j], w[j],
                                      w_ar[j], h_a, theta, variant, tau)
                div = d_a + d_b + d_c  # axis order, as (d_a + d_b) + d_c
        target[j] = div


@njit
def cell_total_divergence(mu, v, f, off_a, off_b, off_c, h_a, h_b, h_c, theta, tau, axes,
                          variant):
    """Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a of the single cell f whose stencils lie at the flat
    offsets ``off_a``, ``off_b``, ``off_c`` (as for :func:`cells_divergence`, but not
    compiled per constant: used for the two cells at each end of a line)."""
    div = cell_divergence(mu[f + off_c[0]], mu[f + off_c[1]], mu[f], mu[f + off_c[2]],
                          mu[f + off_c[3]], v[f + off_c[1]], v[f], v[f + off_c[2]],
                          h_c, theta, variant, tau)
    if axes >= 2:
        d_b = cell_divergence(mu[f + off_b[0]], mu[f + off_b[1]], mu[f], mu[f + off_b[2]],
                              mu[f + off_b[3]], v[f + off_b[1]], v[f], v[f + off_b[2]],
                              h_b, theta, variant, tau)
        if axes == 3:
            d_a = cell_divergence(mu[f + off_a[0]], mu[f + off_a[1]], mu[f], mu[f + off_a[2]],
                                  mu[f + off_a[3]], v[f + off_a[1]], v[f], v[f + off_a[2]],
                                  h_a, theta, variant, tau)
            div = d_a + d_b + div
        else:
            div = d_b + div
    return div


@njit
def line_geometry(shape, periodic, inv_h):
    """Cell counts, periodicity and 1/h of the axes with more than one cell, as axes
    (A, B, C) with C the last of them (contiguous in memory); missing ones get n = 1.
    Returns (number of such axes, nA, nB, nC, pA, pB, pC, hA, hB, hC), h standing for 1/h."""
    n_a, n_b, n_c = 1, 1, 1
    p_a, p_b, p_c = False, False, False
    h_a, h_b, h_c = 1.0, 1.0, 1.0
    found = 0
    for axis in range(2, -1, -1):
        if shape[axis] > 1:
            if found == 0:
                n_c, p_c, h_c = shape[axis], periodic[axis], inv_h[axis]
            elif found == 1:
                n_b, p_b, h_b = shape[axis], periodic[axis], inv_h[axis]
            else:
                n_a, p_a, h_a = shape[axis], periodic[axis], inv_h[axis]
            found += 1
    return found, n_a, n_b, n_c, p_a, p_b, p_c, h_a, h_b, h_c


@njit
def chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c, h_a, h_b, h_c,
                     theta, tau, axes, variant):
    """out[f] = Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a on work item ``item``: cells
    k0 ≤ k < k1 of line item // chunks, chunk k0 = (item % chunks) · LINE_CHUNK.
    Returns the flat range (first, stop) it wrote.  ``axes`` ≥ 1 and ``variant`` are
    compile-time constants (see :func:`cells_divergence`)."""
    literally(axes)
    literally(variant)
    line = item // chunks
    k0 = (item % chunks) * LINE_CHUNK
    k1 = min(k0 + LINE_CHUNK, n_c)
    line_start = line * n_c
    off_a = stencil_offsets(line // n_b, n_a, n_b * n_c, p_a)
    off_b = stencil_offsets(line % n_b, n_b, n_c, p_b)
    inner_lo = min(max(k0, 2), k1)
    inner_hi = max(min(k1, n_c - 2), inner_lo)
    for k in range(k0, inner_lo):
        out[line_start + k] = cell_total_divergence(mu, v, line_start + k, off_a, off_b,
                                                    stencil_offsets(k, n_c, 1, p_c),
                                                    h_a, h_b, h_c, theta, tau, axes, variant)
    cells_divergence(mu, v, out, line_start + inner_lo, inner_hi - inner_lo, off_a, off_b,
                     h_a, h_b, h_c, theta, tau, axes, variant)
    for k in range(inner_hi, k1):
        out[line_start + k] = cell_total_divergence(mu, v, line_start + k, off_a, off_b,
                                                    stencil_offsets(k, n_c, 1, p_c),
                                                    h_a, h_b, h_c, theta, tau, axes, variant)
    return line_start + k0, line_start + k1


@njit
def any_chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                         h_a, h_b, h_c, theta, second_order, tau, axes):
    """:func:`chunk_divergence` for any reconstruction (order 1, θ ∈ [1, 2], θ = 0) and a
    constant ``axes``."""
    literally(axes)
    if not second_order:
        return chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                                h_a, h_b, h_c, theta, tau, axes, FIRST_ORDER)
    if theta == 0.0:
        return chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                                h_a, h_b, h_c, theta, tau, axes, EXTREMUM_LIMITER)
    return chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                            h_a, h_b, h_c, theta, tau, axes, TVD_LIMITER)


@njit(inline="always")
def stage_on_axes(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                  theta, second_order, tau, out, axes):
    """The body of the ``transport_stage_{axes}d`` kernels (``axes`` a constant)."""
    found, n_a, n_b, n_c, p_a, p_b, p_c, h_a, h_b, h_c = line_geometry(shape, periodic, inv_h)
    if found == 0:  # a single cell: no faces
        out[0] = weight_base * base[0] + weight_stage * mu[0]
        return
    chunks = (n_c + LINE_CHUNK - 1) // LINE_CHUNK
    for item in prange(n_a * n_b * chunks):
        first, stop = any_chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                                           h_a, h_b, h_c, theta, second_order, tau, axes)
        # Views indexed from 0, so that the compiler can vectorise the loop.
        result = out[first:stop]
        start = base[first:stop]
        here = mu[first:stop]
        for j in range(stop - first):
            result[j] = weight_base * start[j] + weight_stage * (here[j] - dt * result[j])


@njit(inline="always")
def rhs_on_axes(mu, v, shape, periodic, inv_h, theta, second_order, tau, out, axes):
    """The body of the ``transport_rhs_{axes}d`` kernels (``axes`` a constant)."""
    found, n_a, n_b, n_c, p_a, p_b, p_c, h_a, h_b, h_c = line_geometry(shape, periodic, inv_h)
    if found == 0:
        out[0] = 0.0
        return
    chunks = (n_c + LINE_CHUNK - 1) // LINE_CHUNK
    for item in prange(n_a * n_b * chunks):
        first, stop = any_chunk_divergence(mu, v, out, item, chunks, n_a, n_b, n_c, p_a, p_b, p_c,
                                           h_a, h_b, h_c, theta, second_order, tau, axes)
        result = out[first:stop]
        for j in range(stop - first):
            result[j] = -result[j]


# One compiled kernel per grid dimension, so that a run compiles (and caches) the loops of
# its own dimension only: three reconstructions, not nine (the 1-D kernel also serves a grid
# of one cell).  Module-level functions, since Numba's disk cache keeps no closure and no
# literal-argument specialisation.
@njit(parallel=True, cache=True)
def transport_stage_1d(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                       theta, second_order, tau, out):
    stage_on_axes(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                  theta, second_order, tau, out, 1)


@njit(parallel=True, cache=True)
def transport_stage_2d(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                       theta, second_order, tau, out):
    stage_on_axes(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                  theta, second_order, tau, out, 2)


@njit(parallel=True, cache=True)
def transport_stage_3d(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                       theta, second_order, tau, out):
    stage_on_axes(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                  theta, second_order, tau, out, 3)


@njit(parallel=True, cache=True)
def transport_rhs_1d(mu, v, shape, periodic, inv_h, theta, second_order, tau, out):
    rhs_on_axes(mu, v, shape, periodic, inv_h, theta, second_order, tau, out, 1)


@njit(parallel=True, cache=True)
def transport_rhs_2d(mu, v, shape, periodic, inv_h, theta, second_order, tau, out):
    rhs_on_axes(mu, v, shape, periodic, inv_h, theta, second_order, tau, out, 2)


@njit(parallel=True, cache=True)
def transport_rhs_3d(mu, v, shape, periodic, inv_h, theta, second_order, tau, out):
    rhs_on_axes(mu, v, shape, periodic, inv_h, theta, second_order, tau, out, 3)


STAGE_KERNELS = {1: transport_stage_1d, 2: transport_stage_2d, 3: transport_stage_3d}
RHS_KERNELS = {1: transport_rhs_1d, 2: transport_rhs_2d, 3: transport_rhs_3d}


def kernel_axes(shape) -> int:
    """The kernel of :data:`STAGE_KERNELS`/:data:`RHS_KERNELS` for the padded 3-entry
    ``shape``: its number of axes with more than one cell (1 for a single cell)."""
    return max(1, int(sum(1 for n in shape if n > 1)))


def transport_stage(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                    theta, second_order, tau, out):
    """One SSP Runge–Kutta stage, fused into a single pass over the grid:

        out = a · base + b · (μ − Δt Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a)

    with a = ``weight_base`` and b = ``weight_stage``, by the kernel of the grid's
    dimension.  ``out`` must not alias ``mu`` or ``base``.
    """
    STAGE_KERNELS[kernel_axes(shape)](mu, v, base, weight_base, weight_stage, dt, shape, periodic,
                                      inv_h, theta, second_order, tau, out)


def transport_rhs(mu, v, shape, periodic, inv_h, theta, second_order, tau, out):
    """out = −Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a, the semi-discrete transport rate dμ/dt."""
    RHS_KERNELS[kernel_axes(shape)](mu, v, shape, periodic, inv_h, theta, second_order, tau, out)


@njit(inline="always")
def line_max_jumps(v, first, count, offset_a, offset_b):
    """(max_j |V[f + o_a] − V[f]|, max_j |V[f + o_b] − V[f]|, max_j |V[f + 1] − V[f]|)
    over the cells f = first + j, j < count (zeros when count = 0), in one loop so that
    the three running maxima proceed side by side."""
    here = v[first:first + count]
    along_a = v[first + offset_a:first + offset_a + count]
    along_b = v[first + offset_b:first + offset_b + count]
    along_c = v[first + 1:first + 1 + count]
    s_a = 0.0
    s_b = 0.0
    s_c = 0.0
    for j in range(count):
        s_a = max(s_a, abs(along_a[j] - here[j]))
        s_b = max(s_b, abs(along_b[j] - here[j]))
        s_c = max(s_c, abs(along_c[j] - here[j]))
    return s_a, s_b, s_c


@njit(parallel=True, cache=True)
def max_face_speeds(v, shape, periodic, inv_h, out):
    """out[a] = max over faces along axis a of |u| = |V_{i+1} − V_i| / h_a (0 for absent axes).

    A missing axis and a wall face contribute V_i − V_i = 0 (the clamped neighbour of
    :func:`neighbour`)."""
    _, n_a, n_b, n_c, p_a, p_b, p_c, _, _, _ = line_geometry(shape, periodic, inv_h)
    chunks = (n_c + LINE_CHUNK - 1) // LINE_CHUNK
    s_a = 0.0
    s_b = 0.0
    s_c = 0.0
    for item in prange(n_a * n_b * chunks):
        line = item // chunks
        k0 = (item % chunks) * LINE_CHUNK
        k1 = min(k0 + LINE_CHUNK, n_c)
        line_start = line * n_c
        i = line // n_b
        j = line % n_b
        offset_a = (neighbour(i, 1, n_a, p_a) - i) * n_b * n_c if n_a > 1 else 0
        offset_b = (neighbour(j, 1, n_b, p_b) - j) * n_c if n_b > 1 else 0
        # The line's last cell has no face along C inside the line: it is done below.
        inner = min(k1, n_c - 1) - k0
        a, b, c = line_max_jumps(v, line_start + k0, inner, offset_a, offset_b)
        if k1 == n_c:
            last = line_start + n_c - 1
            a = max(a, abs(v[last + offset_a] - v[last]))
            b = max(b, abs(v[last + offset_b] - v[last]))
            if p_c and n_c > 1:
                c = max(c, abs(v[line_start] - v[last]))
        s_a = max(s_a, a)
        s_b = max(s_b, b)
        s_c = max(s_c, c)
    speeds = (s_c, s_b, s_a)
    found = 0
    for axis in range(2, -1, -1):
        if shape[axis] > 1:
            out[axis] = speeds[found] * inv_h[axis]
            found += 1
        else:
            out[axis] = 0.0
