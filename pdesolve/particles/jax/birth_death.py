"""Seed Algorithm 1 and the weighted update in jax.numpy, on arrays of fixed shape (the
rules of :mod:`pdesolve.particles.birth_death`, whose docstring gives the equations).

The population after the kill/duplicate loop has N₁ ≤ 2n members; it is held as the 2n
indices ``repeat(arange(n), counts)`` padded past N₁, and a uniform random order of its
members is one sort of random keys (the padding last).  Restoring n then takes
the first n of that order (N₁ ≥ n), or keeps all N₁ and adds the first n − N₁ of the order
(n − N₁ ≤ N₁, without replacement) or n − N₁ uniform draws from the population (with
replacement) — the three cases of :func:`~pdesolve.particles.birth_death.restore_population`.
Keys come from ``jax.random`` (counter-based): a run is reproducible from its seed, but does
not draw the numbers the numpy backend draws.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def birth_death_rates(values, balanced: bool):
    """Ṽ_i = V_i − mean_j V_j if ``balanced``, else V_i."""
    return values - jnp.mean(values) if balanced else values


def offspring_counts(key, rates, alpha, dt):
    """0 (killed), 1 or 2 (duplicated) copies: P(0) = 1 − e^{−αṼΔt} if Ṽ > 0, P(2) = 1 − e^{−α|Ṽ|Δt}
    if Ṽ < 0."""
    hit = jax.random.uniform(key, rates.shape) < -jnp.expm1(-alpha * jnp.abs(rates) * dt)
    return jnp.where(hit & (rates > 0), 0, jnp.where(hit & (rates < 0), 2, 1))


def expected_population_fraction(values, alpha, dt):
    """(1/n) Σ_i E[copies of i] = mean of e^{−αVΔt} (V > 0) or 2 − e^{−α|V|Δt} (V < 0)."""
    survive = jnp.exp(-alpha * jnp.abs(values) * dt)
    return jnp.mean(jnp.where(values > 0, survive, 2.0 - survive))


def _population(counts):
    """(n, the 2n indices repeat(arange(n), counts) padded past N₁, N₁ = Σ counts)."""
    n = counts.shape[0]
    return n, jnp.repeat(jnp.arange(n), counts, total_repeat_length=2 * n), jnp.sum(counts)


def restore_population(key, counts):
    """(indices of the n particles kept, sorted; N₁ > 0): the N₁ = Σ counts after the loop,
    then N₁ − n uniformly chosen ones killed, or n − N₁ uniformly chosen ones duplicated
    (with replacement only when n − N₁ > N₁).  With N₁ = 0 the indices are meaningless."""
    n, population, n1 = _population(counts)
    order_key, draw_key = jax.random.split(key)
    shuffled = population[_random_order(order_key, n1, 2 * n)]
    j = jnp.arange(n)
    without = shuffled[jnp.clip(j - n1, 0, 2 * n - 1)]
    with_replacement = population[jax.random.randint(draw_key, (n,), 0, jnp.maximum(n1, 1))]
    grown = jnp.where(j < n1, population[:n], jnp.where(n - n1 > n1, with_replacement, without))
    return jnp.sort(jnp.where(n1 >= n, shuffled[:n], grown)), n1 > 0


def reweight(weights, values, alpha, dt, balanced: bool):
    """w_i e^{−α(V_i − V̄_w)Δt} rescaled to the previous Σ w (balanced), else w_i e^{−αV_iΔt}."""
    if not balanced:
        return weights * jnp.exp(-alpha * values * dt)
    total = jnp.sum(weights)
    mean = jnp.dot(weights, values) / total
    grown = weights * jnp.exp(-alpha * (values - mean) * dt)
    return grown * (total / jnp.sum(grown))


def _random_order(key, valid, size: int):
    """A uniform random order of the slots j < ``valid`` of ``size``, the other slots after
    them: one sort of 64-bit words, i.i.d. random high bits above the slot index (a single
    integer array sorts about 8× faster than an argsort of float keys on XLA's CPU).  Slots
    with equal random bits (about size²/2^(65 − log₂ size) pairs per draw: 0.2 at size 2·10⁶)
    keep their index order."""
    index_bits = max(1, (size - 1).bit_length())
    slots = jnp.arange(size, dtype=jnp.uint64)
    high = jax.random.bits(key, (size,), jnp.uint64) >> index_bits
    high = jnp.where(slots < valid, high, jnp.uint64((1 << (64 - index_bits)) - 1))
    order = jnp.sort((high << index_bits) | slots) & jnp.uint64((1 << index_bits) - 1)
    return order.astype(jnp.int64)


def reinject_events(key, positions, counts, sample_prior):
    """New (n, d) positions, event by event: the K killed particles are replaced by K draws from
    μ_b, then C = N₁ + K − n uniformly chosen ones of the n + C are removed; (positions, True)."""
    n, population, n1 = _population(counts)
    prior_key, order_key = jax.random.split(key)
    kills = jnp.sum(counts == 0)
    slots = jnp.arange(2 * n)
    draws = sample_prior(prior_key, n)
    grown = jnp.where((slots < n1)[:, None], positions[population],
                      draws[jnp.clip(slots - n1, 0, n - 1)])
    keep = jnp.sort(_random_order(order_key, n1 + kills, 2 * n)[:n])
    return grown[keep], jnp.asarray(True)


def reinject_deficit(key, positions, counts, sample_prior):
    """New (n, d) positions after the loop (seed §6): N₁ − n random kills if N₁ ≥ n, else the
    N₁ particles and n − N₁ draws from μ_b; (positions, True)."""
    n, population, n1 = _population(counts)
    prior_key, order_key = jax.random.split(key)
    chosen = jnp.sort(_random_order(order_key, n1, 2 * n)[:n])
    j = jnp.arange(n)
    refilled = jnp.where((j < n1)[:, None], positions[population[:n]],
                         sample_prior(prior_key, n)[jnp.clip(j - n1, 0, n - 1)])
    return jnp.where(n1 >= n, positions[population[chosen]], refilled), jnp.asarray(True)


def resample(key, positions, values, alpha, dt, centred: bool):
    """Algorithm 1 on the population: (new positions, whether any particle survived)."""
    count_key, restore_key = jax.random.split(key)
    counts = offspring_counts(count_key, birth_death_rates(values, centred), alpha, dt)
    kept, alive = restore_population(restore_key, counts)
    return positions[kept], alive
