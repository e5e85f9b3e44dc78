"""Numba kernels for the finite-volume transport operator  −∇·(μ u) + τΔμ,  u = −∇V.

Arrays are flat C-ordered views of a grid padded to three axes (``shape`` holds the
three cell counts, unit counts for absent axes).  Along axis a, the face i+½ between
cells i and i+1 carries the flux (Carrillo, Chertock & Huang 2015)

    u_{i+½} = −(V_{i+1} − V_i) / h_a
    Φ_{i+½} = max(u, 0) μ⁻_{i+½} + min(u, 0) μ⁺_{i+½} − τ (μ_{i+1} − μ_i) / h_a

with μ⁻ = μ_i + σ_i/2, μ⁺ = μ_{i+1} − σ_{i+1}/2 and σ the limited slope times h
(σ = 0 for first order).  No-flux walls carry Φ = 0; periodic axes wrap around.
"""
from __future__ import annotations

from numba import njit, prange


@njit(inline="always")
def neighbour(i, offset, n, periodic):
    """Index of cell i + offset on an axis of n cells, or −1 past a no-flux wall."""
    j = i + offset
    if periodic:
        if j < 0:
            j += n
        elif j >= n:
            j -= n
        return j
    if j < 0 or j >= n:
        return -1
    return j


@njit(inline="always")
def limited_slope(left, centre, right, theta):
    """Limited difference σ (slope × h) of the linear reconstruction in a cell.

    θ ∈ [1, 2]: generalised minmod σ = minmod(θ(μ_c − μ_l), (μ_r − μ_l)/2, θ(μ_r − μ_c))
    (θ = 1 minmod, θ = 2 monotonised central), total-variation diminishing.
    θ = 0 selects the extremum-preserving variant: the same with θ = 2 away from
    extrema, but at a smooth extremum (|μ_r − μ_l|/2 ≤ |μ_r − 2μ_c + μ_l|) the centred
    difference, capped at |σ| ≤ 2μ_c.  Every variant keeps both face values μ_c ± σ/2 ≥ 0,
    which is what positivity and energy dissipation of the scheme need.
    """
    b = 0.5 * (right - left)
    if theta == 0.0:
        if (centre - left) * (right - centre) < 0.0 and abs(b) <= abs(right - 2.0 * centre + left):
            cap = 2.0 * max(centre, 0.0)
            return min(max(b, -cap), cap)
        theta = 2.0
    a = theta * (centre - left)
    c = theta * (right - centre)
    if a > 0.0 and b > 0.0 and c > 0.0:
        return min(a, b, c)
    if a < 0.0 and b < 0.0 and c < 0.0:
        return max(a, b, c)
    return 0.0


@njit(inline="always")
def face_flux(m_ll, m_l, m_r, m_rr, has_ll, has_rr, v_l, v_r, inv_h, theta, second_order, tau):
    """Upwind flux Φ through the face between cells l and r (see module docstring)."""
    u = -(v_r - v_l) * inv_h
    m_minus = m_l
    m_plus = m_r
    if second_order:
        if has_ll:
            m_minus = m_l + 0.5 * limited_slope(m_ll, m_l, m_r, theta)
        if has_rr:
            m_plus = m_r - 0.5 * limited_slope(m_l, m_r, m_rr, theta)
    return max(u, 0.0) * m_minus + min(u, 0.0) * m_plus - tau * (m_r - m_l) * inv_h


@njit(inline="always")
def flux_divergence_at(mu, v, flat, index, n, stride, periodic, inv_h, theta, second_order, tau):
    """(Φ_{i+½} − Φ_{i−½}) / h along one axis for the cell at flat position ``flat``."""
    im2 = neighbour(index, -2, n, periodic)
    im1 = neighbour(index, -1, n, periodic)
    ip1 = neighbour(index, 1, n, periodic)
    ip2 = neighbour(index, 2, n, periodic)
    base = flat - index * stride
    m_c = mu[flat]
    v_c = v[flat]
    result = 0.0
    if ip1 >= 0:
        m_r = mu[base + ip1 * stride]
        m_rr = mu[base + ip2 * stride] if ip2 >= 0 else 0.0
        m_l = mu[base + im1 * stride] if im1 >= 0 else 0.0
        result += face_flux(m_l, m_c, m_r, m_rr, im1 >= 0, ip2 >= 0,
                            v_c, v[base + ip1 * stride], inv_h, theta, second_order, tau)
    if im1 >= 0:
        m_l = mu[base + im1 * stride]
        m_ll = mu[base + im2 * stride] if im2 >= 0 else 0.0
        m_r = mu[base + ip1 * stride] if ip1 >= 0 else 0.0
        result -= face_flux(m_ll, m_l, m_c, m_r, im2 >= 0, ip1 >= 0,
                            v[base + im1 * stride], v_c, inv_h, theta, second_order, tau)
    return result * inv_h


@njit(inline="always")
def flux_divergence(mu, v, flat, i, j, k, shape, periodic, inv_h, theta, second_order, tau):
    """Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a at cell (i, j, k), flat index ``flat``."""
    n0, n1, n2 = shape[0], shape[1], shape[2]
    div = 0.0
    if n0 > 1:
        div += flux_divergence_at(mu, v, flat, i, n0, n1 * n2, periodic[0], inv_h[0],
                                  theta, second_order, tau)
    if n1 > 1:
        div += flux_divergence_at(mu, v, flat, j, n1, n2, periodic[1], inv_h[1],
                                  theta, second_order, tau)
    if n2 > 1:
        div += flux_divergence_at(mu, v, flat, k, n2, 1, periodic[2], inv_h[2],
                                  theta, second_order, tau)
    return div


@njit(parallel=True, cache=True)
def transport_stage(mu, v, base, weight_base, weight_stage, dt, shape, periodic, inv_h,
                    theta, second_order, tau, out):
    """One SSP Runge–Kutta stage, fused into a single pass over the grid:

        out = a · base + b · (μ − Δt Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a)

    with a = ``weight_base`` and b = ``weight_stage``.  ``out`` must not alias ``mu``.
    """
    n1, n2 = shape[1], shape[2]
    for i in prange(shape[0]):
        for j in range(n1):
            for k in range(n2):
                flat = (i * n1 + j) * n2 + k
                div = flux_divergence(mu, v, flat, i, j, k, shape, periodic, inv_h,
                                      theta, second_order, tau)
                out[flat] = weight_base * base[flat] + weight_stage * (mu[flat] - dt * div)


@njit(parallel=True, cache=True)
def transport_rhs(mu, v, shape, periodic, inv_h, theta, second_order, tau, out):
    """out = −Σ_a (Φ_{a,i+½} − Φ_{a,i−½}) / h_a, the semi-discrete transport rate dμ/dt."""
    n1, n2 = shape[1], shape[2]
    for i in prange(shape[0]):
        for j in range(n1):
            for k in range(n2):
                flat = (i * n1 + j) * n2 + k
                out[flat] = -flux_divergence(mu, v, flat, i, j, k, shape, periodic, inv_h,
                                             theta, second_order, tau)


@njit(inline="always")
def face_jump(v, flat, index, n, stride, periodic):
    """|V_{i+1} − V_i| across the face after cell i along one axis (0 at a wall)."""
    nxt = neighbour(index, 1, n, periodic)
    if n < 2 or nxt < 0:
        return 0.0
    return abs(v[flat + (nxt - index) * stride] - v[flat])


@njit(parallel=True, cache=True)
def max_face_speeds(v, shape, periodic, inv_h, out):
    """out[a] = max over faces along axis a of |u| = |V_{i+1} − V_i| / h_a (0 for absent axes)."""
    n0, n1, n2 = shape[0], shape[1], shape[2]
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in prange(n0):
        for j in range(n1):
            for k in range(n2):
                flat = (i * n1 + j) * n2 + k
                s0 = max(s0, face_jump(v, flat, i, n0, n1 * n2, periodic[0]))
                s1 = max(s1, face_jump(v, flat, j, n1, n2, periodic[1]))
                s2 = max(s2, face_jump(v, flat, k, n2, 1, periodic[2]))
    out[0] = s0 * inv_h[0]
    out[1] = s1 * inv_h[1]
    out[2] = s2 * inv_h[2]

