"""Exact kinetic Monte Carlo (Gillespie) of balanced birth–death without transport, K = 0.

Each particle carries a fixed V (its own F); the population of n keeps indices into the
initial particles.  Particle i has rate α |Ṽ_i|, Ṽ_i = V_i − (1/n) Σ_j V_j of the current
population.  When it fires: Ṽ_i > 0 kills i and duplicates a uniformly chosen particle j;
Ṽ_i < 0 duplicates i and kills a uniformly chosen j (j among all n, so the expected
drift of ⟨φ, μⁿ⟩ is exactly −α ⟨(V − V̄) φ, μⁿ⟩, the balanced reaction of seed (13)).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def gillespie_kernel(values, members, alpha, times, rng, out):
    """Advance ``members`` (n indices into ``values``) from t = 0; row k of ``out`` is the
    population at ``times[k]`` (increasing).  O(n) per event."""
    n = members.shape[0]
    total_v = 0.0
    for i in range(n):
        total_v += values[members[i]]
    t = 0.0
    for k in range(times.shape[0]):
        while True:
            mean = total_v / n
            total_rate = 0.0
            for i in range(n):
                total_rate += abs(values[members[i]] - mean)
            total_rate *= alpha
            if total_rate <= 0.0:
                t = times[k]
                break
            wait = rng.standard_exponential() / total_rate
            if t + wait > times[k]:
                t = times[k]          # memoryless: restart the clocks at the output time
                break
            t += wait
            target = rng.random() * total_rate / alpha
            i = 0
            cumulative = abs(values[members[0]] - mean)
            while cumulative < target and i < n - 1:
                i += 1
                cumulative += abs(values[members[i]] - mean)
            j = min(int(rng.random() * n), n - 1)
            if values[members[i]] - mean > 0.0:
                total_v += values[members[j]] - values[members[i]]
                members[i] = members[j]
            else:
                total_v += values[members[i]] - values[members[j]]
                members[j] = members[i]
        for i in range(n):
            out[k, i] = members[i]


def gillespie_birth_death(values: np.ndarray, alpha: float, times: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
    """Populations (len(times), n) of indices into ``values`` (V of each initial particle)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    times = np.ascontiguousarray(times, dtype=np.float64)
    if np.any(np.diff(times) < 0) or (times.size and times[0] < 0):
        raise ValueError("times must be non-negative and increasing")
    members = np.arange(values.shape[0], dtype=np.int64)
    out = np.empty((times.shape[0], values.shape[0]), dtype=np.int64)
    gillespie_kernel(values, members, float(alpha), times, rng, out)
    return out
