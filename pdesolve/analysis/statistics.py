"""Statistics of a particle-vs-grid comparison: power-law slopes, normality, variances.

Pure functions on arrays of replicate values; nothing here knows about particles or grids.

* Log–log slope b of y ≈ A n^b by weighted least squares with known point variances,
  used for the law of large numbers (error ∝ n^{−½}) and for the flatness of the CLT
  variance (Var(ωⁿ) ∝ n⁰).
* Shapiro–Wilk normality p-value.
* Chi-square confidence interval of a Gaussian sample's variance.
* Flatness of variances across groups: Brown–Forsythe (Levene, median-centred) test.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats


@dataclass(frozen=True)
class SlopeFit:
    """log y = a + b log n fitted by weighted least squares.

    ``slope`` b, its ``standard_error`` and confidence interval ``ci`` (normal quantile,
    point variances taken as known), ``intercept`` a, and ``fit_p``: the chi-square
    goodness-of-fit p-value of the residuals (None with two points, where the line is
    exact).  A small ``fit_p`` says the points do not lie on one power law (e.g. a bias
    floor at large n) and the CI should not be trusted.
    """

    slope: float
    standard_error: float
    ci: tuple[float, float]
    intercept: float
    fit_p: float | None


def weighted_line_fit(u: np.ndarray, v: np.ndarray, sigma: np.ndarray,
                      level: float = 0.95) -> SlopeFit:
    """v_i = a + b u_i + ε_i, ε_i ~ N(0, σ_i²) independent:

        w_i = 1/σ_i²,  ū = Σ w u / Σ w,  S = Σ w (u − ū)²,
        b̂ = Σ w (u − ū) v / S,  SE(b̂) = S^{−½},  CI = b̂ ± z_{(1+level)/2} SE,
        fit χ² = Σ w (v − â − b̂ u)² on (k − 2) degrees of freedom.
    """
    u, v, sigma = (np.asarray(a, dtype=float) for a in (u, v, sigma))
    if u.shape != v.shape or u.shape != sigma.shape or u.ndim != 1 or u.size < 2:
        raise ValueError("a line fit needs at least two points with one sigma each")
    if np.ptp(u) == 0:
        raise ValueError("a line fit needs at least two distinct abscissae")
    w = 1.0 / np.maximum(sigma, 1e-300) ** 2
    u_bar = float(np.sum(w * u) / np.sum(w))
    spread = float(np.sum(w * (u - u_bar) ** 2))
    slope = float(np.sum(w * (u - u_bar) * v) / spread)
    intercept = float(np.sum(w * (v - slope * u)) / np.sum(w))
    standard_error = 1.0 / math.sqrt(spread)
    z = float(stats.norm.ppf(0.5 + level / 2))
    dof = u.size - 2
    fit_p = None
    if dof > 0:
        chi2 = float(np.sum(w * (v - intercept - slope * u) ** 2))
        fit_p = float(stats.chi2.sf(chi2, dof))
    return SlopeFit(slope, standard_error, (slope - z * standard_error, slope + z * standard_error),
                    intercept, fit_p)


def fit_log_log_slope(ns: Sequence[float], values: Sequence[float],
                      standard_errors: Sequence[float], level: float = 0.95) -> SlopeFit:
    """Slope b of values ≈ A nsᵇ: :func:`weighted_line_fit` of log values on log ns with
    σ_i = SE_i / value_i, the delta-method standard error of log(value_i) when value_i
    is a mean over replicates with standard error SE_i.

    Every value must be positive (a zero mean error has no logarithm)."""
    values = np.asarray(values, dtype=float)
    standard_errors = np.asarray(standard_errors, dtype=float)
    if np.any(values <= 0) or not np.all(np.isfinite(values)):
        raise ValueError("log-log fit needs positive finite values")
    return weighted_line_fit(np.log(np.asarray(ns, dtype=float)), np.log(values),
                             standard_errors / values, level)


def mean_and_standard_error(samples: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x̄, s/√R) along ``axis``, s the sample standard deviation (ddof 1) of R samples."""
    samples = np.asarray(samples, dtype=float)
    count = samples.shape[axis]
    if count < 2:
        raise ValueError("a standard error needs at least two samples")
    return samples.mean(axis=axis), samples.std(axis=axis, ddof=1) / math.sqrt(count)


def normality_p_value(samples: np.ndarray) -> float:
    """Shapiro–Wilk p-value of H₀ "the samples are Gaussian" (nan for fewer than 3
    samples or a constant sample, where the test is undefined)."""
    samples = np.asarray(samples, dtype=float).ravel()
    if samples.size < 3 or np.ptp(samples) == 0:
        return math.nan
    return float(stats.shapiro(samples).pvalue)


def variance_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(s², low, high): the sample variance s² (ddof 1) of R samples and its chi-square
    confidence interval, exact for Gaussian samples:

        [(R−1) s² / χ²_{R−1}((1+level)/2),  (R−1) s² / χ²_{R−1}((1−level)/2)].
    """
    samples = np.asarray(samples, dtype=float).ravel()
    if samples.size < 2:
        raise ValueError("a variance needs at least two samples")
    dof = samples.size - 1
    s2 = float(samples.var(ddof=1))
    return (s2, dof * s2 / float(stats.chi2.ppf(0.5 + level / 2, dof)),
            dof * s2 / float(stats.chi2.ppf(0.5 - level / 2, dof)))


@dataclass(frozen=True)
class FlatnessTest:
    """Is the variance the same in every group (e.g. Var(ωⁿ) for each n)?

    ``p_value``: Brown–Forsythe test (Levene's test centred at the group medians), robust
    to non-Gaussian tails; ``slope``: the fitted exponent b of s²_n ∝ nᵇ with its
    confidence interval (see :func:`variance_flatness`).  Flat means p not small and 0 in
    the interval.
    """

    p_value: float
    slope: SlopeFit


def variance_flatness(groups: Sequence[np.ndarray], ns: Sequence[float],
                      level: float = 0.95) -> FlatnessTest:
    """Flatness of the sample variances s²_k of ``groups`` (group k taken at size ns[k]).

    The slope fits log s²_k on log n_k with σ_k² = ψ′((R_k − 1)/2), the exact variance of
    log s² for a Gaussian sample of R_k values (ψ′ the trigamma function; s² is a
    χ²_{R−1}/(R−1) multiple of the variance).
    """
    groups = [np.asarray(g, dtype=float).ravel() for g in groups]
    if len(groups) != len(ns) or len(groups) < 2 or min(g.size for g in groups) < 2:
        raise ValueError("flatness needs at least two groups of at least two samples")
    variances = np.array([g.var(ddof=1) for g in groups])
    if np.any(variances <= 0):
        raise ValueError("flatness needs groups with positive variance")
    sigma = np.sqrt([float(special.polygamma(1, (g.size - 1) / 2)) for g in groups])
    slope = weighted_line_fit(np.log(np.asarray(ns, dtype=float)), np.log(variances), sigma, level)
    return FlatnessTest(float(stats.levene(*groups, center="median").pvalue), slope)
