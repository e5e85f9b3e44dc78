"""Grid-vs-particle comparison: the statistics on synthetic data with known answers, the
observables, and compare_case on a cheap 1-D case (LLN slope, exact CLT variance)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from pdesolve.config.case import load_case
from pdesolve.analysis.comparison import (bias_verdict, check_sizes, compare_case, comparison_times,
                                 distances, error_inflation, restrict)
from pdesolve.model.grid import Grid
from pdesolve.analysis.statistics import (fit_log_log_slope, mean_and_standard_error, normality_p_value,
                                 variance_flatness, variance_interval)

CASE = Path(__file__).resolve().parent.parent / "cases" / "gaussian_1d.toml"
CHEAP = ("time.t_end=0.3", "grid.cells=[200]")
NS = (50, 200, 800, 3200)
REPLICATES = 32


# --- statistics -------------------------------------------------------------------------

def test_slope_of_an_exact_power_law():
    ns = np.array([10.0, 100.0, 1000.0, 1e4])
    values = 3.0 * ns ** -0.5
    fit = fit_log_log_slope(ns, values, 1e-3 * values)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert fit.ci[0] < -0.5 < fit.ci[1] and fit.ci[1] - fit.ci[0] < 0.01
    assert fit.fit_p == pytest.approx(1.0)


def test_slope_ci_covers_the_true_exponent_about_95_percent_of_the_time():
    """Mean |N(0, 1/n)| over 16 replicates at four n: the 95% CI holds −½ in 88–99% of trials."""
    rng = np.random.default_rng(1)
    ns = np.array([100, 1000, 10_000, 100_000])
    hits, trials = 0, 400
    for _ in range(trials):
        errors = np.abs(rng.standard_normal((16, ns.size))) / np.sqrt(ns)
        mean, se = mean_and_standard_error(errors)
        fit = fit_log_log_slope(ns, mean, se)
        hits += fit.ci[0] <= -0.5 <= fit.ci[1]
    assert 0.88 <= hits / trials <= 0.99


def test_slope_fit_rejects_a_zero_error():
    with pytest.raises(ValueError):
        fit_log_log_slope([1, 10], [1.0, 0.0], [0.1, 0.1])


def test_chi_square_interval_contains_the_true_variance_in_most_seeds():
    rng = np.random.default_rng(2)
    inside = sum(lo <= 2.0 <= hi for _, lo, hi in
                 (variance_interval(rng.normal(0, math.sqrt(2.0), 20)) for _ in range(400)))
    assert 0.91 <= inside / 400 <= 0.98
    s2, lo99, hi99 = variance_interval(np.arange(10.0), 0.99)
    _, lo95, hi95 = variance_interval(np.arange(10.0), 0.95)
    assert s2 == pytest.approx(np.var(np.arange(10.0), ddof=1))
    assert lo99 < lo95 < s2 < hi95 < hi99
    for level, (lo, hi) in ((0.99, (lo99, hi99)), (0.95, (lo95, hi95))):   # (n−1)s²/χ²_{n−1} quantiles
        tail = (1 - level) / 2
        assert lo == pytest.approx(9 * s2 / stats.chi2.ppf(1 - tail, 9), rel=1e-12)
        assert hi == pytest.approx(9 * s2 / stats.chi2.ppf(tail, 9), rel=1e-12)


def test_flatness_keeps_equal_variances_and_rejects_unequal_ones():
    rng = np.random.default_rng(3)
    ns = [100, 1000, 10_000]
    rejected = sum(variance_flatness([rng.standard_normal(32) for _ in ns], ns).p_value < 0.05
                   for _ in range(200))
    assert rejected / 200 < 0.1
    growing = variance_flatness([s * rng.standard_normal(32) for s in (1.0, 2.0, 4.0)], ns)
    assert growing.p_value < 1e-3
    assert growing.slope.ci[0] > 0        # variance ∝ n^{0.6}: the slope CI excludes 0
    assert growing.slope.slope == pytest.approx(math.log(16) / math.log(100), abs=0.15)


def test_normality_p_value():
    rng = np.random.default_rng(4)
    assert normality_p_value(rng.standard_normal(200)) > 0.01
    assert normality_p_value(rng.exponential(size=200)) < 1e-6
    assert math.isnan(normality_p_value(np.ones(10)))


# --- observables --------------------------------------------------------------------------

def test_distances_of_point_masses():
    grid = Grid((0.0,), (1.0,), (10,), (False,))
    a, b = np.zeros(10), np.zeros(10)
    a[2], b[7] = 1 / grid.cell_volume, 1 / grid.cell_volume      # unit masses in cells 2 and 7
    far = distances(a, b, grid)
    assert far["w1_x"] == pytest.approx(5 * grid.spacing[0])
    assert far["l1"] == pytest.approx(2.0)
    assert distances(a, a, grid)["w1_x"] == 0.0
    plane = Grid((0.0, 0.0), (1.0, 2.0), (4, 8), (False, False))
    p, q = np.zeros((3, 4, 8)), np.zeros((4, 8))
    p[:, 0, 1] = q[3, 1] = 1 / plane.cell_volume                # same y cell, x cells 0 and 3
    far = distances(p, q, plane)
    assert far["w1_x"] == pytest.approx(np.full(3, 3 * plane.spacing[0]))
    assert far["w1_y"] == pytest.approx(np.zeros(3))


def test_restrict_averages_fine_cells():
    fine = np.arange(2 * 8 * 4, dtype=float).reshape(2, 8, 4)
    coarse = restrict(fine, 2)
    assert coarse.shape == (2, 4, 2)
    assert coarse[1, 0, 0] == pytest.approx(fine[1, :2, :2].mean())
    assert coarse.sum() * 4 == pytest.approx(fine.sum())


@pytest.mark.parametrize("ns, replicates", [((100,), 8), ((0, 10), 8), ((100, 50), 8),
                                            ((100, 100), 8), ((10, 100), 1), ((10.5, 100), 8)])
def test_bad_sizes_are_refused(ns, replicates):
    with pytest.raises(ValueError):
        check_sizes(ns, replicates)


def test_compare_case_refuses_bad_sizes_before_running(tmp_path):
    with pytest.raises(ValueError, match="replicates"):
        compare_case(load_case(CASE, CHEAP), (10, 100), 1, tmp_path)
    assert not any(tmp_path.iterdir())


def test_default_comparison_times():
    assert comparison_times(2.0).tolist() == [0.5, 1.0, 1.5, 2.0]


# --- compare_case ---------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["numba", "jax"])
def birth_death_report(request, tmp_path_factory):
    """The compare run of the cheap case, with the particles (and the grid run) on each backend."""
    if request.param == "jax":
        pytest.importorskip("jax")
    outdir = tmp_path_factory.mktemp("compare")
    report = compare_case(load_case(CASE, CHEAP + (f"scheme.backend={request.param}",)), NS,
                          REPLICATES, outdir, seed=3, workers=1, progress=False)
    return outdir, report


def _entry(report: dict, name: str) -> dict:
    return next(o for o in report["observables"] if o["name"] == name)


def test_compare_writes_its_files(birth_death_report):
    outdir, report = birth_death_report
    for name in ("lln.png", "clt.png", "clt_variance.png"):
        assert (outdir / name).stat().st_size > 10_000
    text = (outdir / "report.md").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "Generated by pdesolve compare; do not edit."
    stored = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
    assert stored["ns"] == list(NS) and stored["replicates"] == REPLICATES
    assert stored["times"] == pytest.approx([0.075, 0.15, 0.225, 0.3])
    names = [o["name"] for o in stored["observables"]]
    assert names == ["mean_x", "second_moment_x", "energy", "l1", "w1_x"]   # mass is conserved
    assert all(len(e["clt"]["omega"][k]) == REPLICATES for e in _entry(stored, "mean_x")["times"]
               for k in range(len(NS)))


def test_lln_slope_of_the_mean_is_one_half(birth_death_report):
    _, report = birth_death_report
    for entry in _entry(report, "mean_x")["times"]:
        assert -0.65 <= entry["lln"]["slope"] <= -0.35, entry["t"]
        assert entry["lln"]["error"][-1] < entry["lln"]["error"][0] / 4
    assert _entry(report, "mean_x")["times"][-1]["clt"]["exact_variance"] is None   # α > 0


def test_compare_checks_the_linearised_prediction(birth_death_report):
    """Balanced birth–death: every signed observable but the mass carries the linearised
    prediction per n, inside most 99% CIs, and the report's tables and summary say so."""
    outdir, report = birth_death_report
    assert report["prediction_note"] is None and report["prediction_steps"] >= 64
    checks = []
    for o in report["observables"]:
        for entry in o["times"]:
            clt = entry["clt"]
            if clt is None:
                continue
            predicted = clt["predicted_variance"]
            assert len(predicted) == len(NS) and min(predicted) > 0
            # at fixed Δt the restore noise falls with n: from the Δt → 0 value towards n → ∞
            assert clt["predicted_continuous_time"] >= predicted[0] >= predicted[-1] >= clt["predicted_large_n"]
            checks += clt["predicted_in_ci99"]
    assert len(checks) == 3 * 4 * len(NS) and sum(checks) >= len(checks) - 3
    text = (outdir / "report.md").read_text(encoding="utf-8")
    assert "predicted Var per n" in text
    assert f"Linearised prediction of Var(ωⁿ) inside its 99% CI in {sum(checks)} of {len(checks)}" in text


def test_compare_says_why_it_has_no_prediction(tmp_path):
    case = load_case(CASE, CHEAP + ("dynamics.reaction=unbalanced", "time.t_end=0.1"))
    report = compare_case(case, (20, 80), 4, tmp_path, seed=1, workers=1, progress=False,
                          figures=False)
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "report.json").exists()
    assert report["prediction_note"] == ("no linearised prediction for the unbalanced reaction "
                                         "(the prediction covers balanced, none)")
    assert all(e["clt"]["predicted_variance"] is None for o in report["observables"] if o["signed"]
               for e in o["times"])
    assert "Prediction: no linearised prediction for the unbalanced" in (tmp_path / "report.md").read_text()


def test_biases_are_below_the_monte_carlo_error(birth_death_report):
    _, report = birth_death_report
    for o in report["observables"]:
        for entry in o["times"]:
            assert entry["bias"]["below"], (o["name"], entry["t"])


def test_clt_variance_matches_the_exact_one_without_reaction(tmp_path):
    """α = 0, K = 0: independent particles, Var(ωⁿ) = Var_μt(x) inside every 99% CI; the grid's
    Var_μt(x) is the transported Gaussian's s0² e^{−2t}."""
    case = load_case(CASE, CHEAP + ("dynamics.reaction=none",))
    report = compare_case(case, NS, REPLICATES, tmp_path, seed=3, workers=1, progress=False,
                          figures=False)
    for entry in _entry(report, "mean_x")["times"]:
        clt = entry["clt"]
        assert clt["exact_variance"] == pytest.approx(0.25 * math.exp(-2 * entry["t"]), rel=0.01)
        assert all(clt["exact_in_ci99"]), entry["t"]
        assert clt["predicted_variance"] == pytest.approx([clt["exact_variance"]] * len(NS), rel=0.01)
    exact_checks = [ok for o in report["observables"] if o["signed"] for e in o["times"]
                    for ok in e["clt"]["exact_in_ci99"]]
    assert len(exact_checks) == 3 * 4 * len(NS) and sum(exact_checks) >= len(exact_checks) - 3


@pytest.mark.parametrize("grid, dt, se, verdict", [
    (0.1, 0.2, 0.1, "below"),            # 0.2 + 1.96·0.1 < 1
    (0.1, 0.2, 0.5, "inconclusive"),     # upper bound above 1, lower bound below
    (0.1, 2.0, 0.1, "NOT below"),        # lower bound above 1
    (1.5, 0.0, 0.0, "NOT below"),        # the grid alone is too coarse
    (None, 0.0, 0.0, "not measured"),
    (0.1, 0.5, None, "below"),           # distances: no SE
])
def test_bias_verdict(grid, dt, se, verdict):
    assert bias_verdict(grid, dt, se, 1.0) == verdict


def test_error_inflation_of_a_bias():
    """E|σZ + b|/E|σZ| − 1 against a Monte Carlo estimate."""
    z = np.random.default_rng(5).standard_normal(400_000)
    for r in (0.0, 0.5, 1.0):
        assert error_inflation(r) == pytest.approx(np.abs(z + r).mean() / np.abs(z).mean() - 1,
                                                   abs=0.01)
    assert error_inflation(1.0) == pytest.approx(0.4625, abs=1e-3)
