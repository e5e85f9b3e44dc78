"""Time-discretised birth–death of particles (seed Algorithm 1, (25)–(26), §6 reinjection)
and its deterministic weighted alternative.

Rates: balanced Ṽ_i = V_i − (1/n) Σ_j V_j (seed (21)); unbalanced and reinjection V_i
(uncentred: with Ṽ the reinjection would refill nothing in the limit; README.md,
"Reinjection").  In a step Δt particle i is killed with probability 1 − exp(−α Ṽ_i Δt) if
Ṽ_i > 0 and duplicated with probability 1 − exp(−α |Ṽ_i| Δt) if Ṽ_i < 0 (seed (25)–(26)
print these without α and the minus sign, and its §5 list swaps kill and duplicate; README.md,
"Where the code departs from the printed seed").  Then:

* balanced: N₁ survivors+clones are brought back to n by killing N₁ − n, or duplicating
  n − N₁, uniformly chosen particles (Algorithm 1);
* unbalanced: the same population control, and the mass M of μⁿ = (M/n) Σ δ is
  multiplied by the *expected* population fraction (1/n) Σ_i e_i, e_i = exp(−α V_i Δt)
  if V_i > 0 and 2 − exp(−α|V_i|Δt) if V_i < 0 (= 1 − α V̄ Δt + O(Δt²), so
  dM/dt = −α ∫ V dμ as in seed (12)); using the expectation rather than N₁/n keeps the
  population fixed and adds no noise to M;
* reinjection, event by event: every killed particle is replaced by a draw from the
  prior μ_b and every duplicate by the removal of a uniformly chosen particle.  Its
  mean-field limit, at any n Δt, is  −αVμ + α⟨V⁺⟩_μ μ_b − α⟨V⁻⟩_μ μ/M  (README.md, "Reinjection");
* reinjection_deficit (seed §6 read literally): after the loop only the net deficit
  n − N₁ is drawn from μ_b when N₁ < n, and N₁ − n uniformly chosen particles are killed
  when N₁ > n.  Its limit depends on the number of events per step λ = nαΔt⟨|V|⟩:
  DESIGN §1's PDE  −αVμ + α max(V̄_m,0) μ_b + α min(V̄_m,0) μ/M  as λ → ∞, the event-wise
  one above as λ → 0.  M is constant in both.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def birth_death_rates(values: np.ndarray, balanced: bool) -> np.ndarray:
    """Ṽ_i = V_i − mean_j V_j if ``balanced``, else V_i."""
    return values - values.mean() if balanced else values.copy()


def offspring_counts(rates: np.ndarray, alpha: float, dt: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Copies of each particle after the Algorithm 1 loop: 0 (killed), 1, or 2 (duplicated).

    P(0) = 1 − exp(−α Ṽ Δt) if Ṽ > 0;  P(2) = 1 − exp(−α |Ṽ| Δt) if Ṽ < 0.
    """
    hit = rng.random(rates.shape[0]) < -np.expm1(-alpha * np.abs(rates) * dt)
    counts = np.ones(rates.shape[0], dtype=np.int64)
    counts[hit & (rates > 0)] = 0
    counts[hit & (rates < 0)] = 2
    return counts


def expected_population_fraction(values: np.ndarray, alpha: float, dt: float) -> float:
    """(1/n) Σ_i E[copies of i] = mean of exp(−αV Δt) (V > 0) or 2 − exp(−α|V|Δt) (V < 0)."""
    survive = np.exp(-alpha * np.abs(values) * dt)
    return float(np.mean(np.where(values > 0, survive, 2.0 - survive)))


def restore_population(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the n particles kept: the N₁ = Σ counts after the loop, then N₁ − n
    uniformly chosen ones killed, or n − N₁ uniformly chosen ones duplicated (with
    replacement only when n − N₁ > N₁)."""
    population = np.repeat(np.arange(counts.shape[0]), counts)
    n1 = population.shape[0]
    if n1 == 0:
        raise RuntimeError("birth-death killed every particle; reduce alpha * dt")
    if n1 > n:
        return np.sort(rng.choice(population, n, replace=False))
    if n1 < n:
        extra = rng.choice(population, n - n1, replace=n - n1 > n1)
        return np.sort(np.concatenate((population, extra)))
    return population


def reinject_deficit(positions: np.ndarray, counts: np.ndarray, n: int, rng: np.random.Generator,
                     sample_prior: Callable[[int, np.random.Generator], np.ndarray]) -> np.ndarray:
    """New (n, d) positions after the loop: N₁ − n random kills if N₁ > n, else the
    N₁ particles plus n − N₁ draws ``sample_prior(k, rng)`` from μ_b (seed §6)."""
    population = np.repeat(np.arange(counts.shape[0]), counts)
    n1 = population.shape[0]
    if n1 >= n:
        return positions[np.sort(rng.choice(population, n, replace=False))]
    return np.concatenate((positions[population], sample_prior(n - n1, rng)))


def reinject_events(positions: np.ndarray, counts: np.ndarray, n: int, rng: np.random.Generator,
                    sample_prior: Callable[[int, np.random.Generator], np.ndarray]) -> np.ndarray:
    """New (n, d) positions after the loop, event by event: the K killed particles are
    replaced by K draws from μ_b, then the C duplicates are paid for by removing C
    uniformly chosen particles of the n + C (survivors, clones and new draws)."""
    population = np.repeat(np.arange(counts.shape[0]), counts)
    kills = int(np.count_nonzero(counts == 0))
    clones = population.shape[0] + kills - n
    grown = np.concatenate((positions[population], sample_prior(kills, rng))) if kills \
        else positions[population]
    if clones == 0:
        return grown
    keep = np.sort(rng.choice(grown.shape[0], n, replace=False))
    return grown[keep]


def reweight(weights: np.ndarray, values: np.ndarray, alpha: float, dt: float,
             balanced: bool) -> None:
    """Weighted particles, in place: w_i ← w_i exp(−α (V_i − V̄_w) Δt), V̄_w = Σ w V / Σ w,
    the exact solution of ẇ_i = −α (V_i − V̄_w) w_i with V frozen; balanced rescales to the
    previous Σ w (exact conservation), unbalanced uses w_i ← w_i exp(−α V_i Δt)."""
    total = weights.sum()
    if balanced:
        mean = float(np.dot(weights, values)) / total
        weights *= np.exp(-alpha * (values - mean) * dt)
        weights *= total / weights.sum()
    else:
        weights *= np.exp(-alpha * values * dt)


def population_offspring(system, dt: float, centred: bool) -> np.ndarray:
    """Offspring counts of Algorithm 1 for a particle system: every particle's birth–death
    draw with rates α(V_i − V̄) (``centred``) or αV_i at the current V."""
    return offspring_counts(birth_death_rates(system.values, centred), system.alpha, dt,
                            system.rng)


def resample(system, counts: np.ndarray) -> None:
    """Replace the system's particles by the offspring ``counts``, restored to n exactly."""
    system.positions = np.ascontiguousarray(
        system.positions[restore_population(counts, system.n, system.rng)])
