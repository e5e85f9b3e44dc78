"""Every validation script runs end to end in --quick mode and writes its figure and a
table whose numbers say what the script claims to measure, even at the quick settings."""
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted(p for p in (Path(__file__).parent.parent / "validation").glob("*.py")
                 if not p.name.startswith("_"))


def tables(text: str) -> list[list[dict[str, str]]]:
    """The markdown tables of ``text``: each a list of rows {header: cell}."""
    found, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.startswith("| ") and re.fullmatch(r"\|(---\|)+", lines[i + 1]):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("| "):
                    break
                rows.append(dict(zip(header, (c.strip() for c in row.strip("|").split("|")))))
            found.append(rows)
    return found


def number(cell: str) -> float:
    """The first number in a cell ("1.84", "2.05e-04 → 4.94e-05 (2.05)" gives 2.05e-04)."""
    return float(re.search(r"-?\d+(\.\d+)?(e[+-]?\d+)?", cell).group())


def last_number(cell: str) -> float:
    return float(re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", cell)[-1])


def check_convergence_orders(found):
    for row in found[0]:
        order, study = number(row["fitted order"]), row["study"]
        if "Lie" in study:
            assert 0.9 <= order <= 1.1, row
        elif "Strang" in study:
            assert 1.9 <= order <= 2.1, row
        elif "1st order" in study:
            assert 0.6 <= order <= 1.2, row
        else:
            assert order >= 1.5, row


def check_energy_dissipation(found):
    identity, refinement, flows = found
    for row in identity:
        assert number(row["discrepancy vs diagnostic"]) < 1e-3, row
        if row["reaction"] == "balanced":
            assert number(row["mass(2)"]) == 1.0
    for row in refinement:
        assert last_number(row[next(k for k in row if k.startswith("discrepancy vs diagnostic"))]) > 1.7, row
    gap = {row["flow"].split(" (")[0]: number(row["E(t_end) − E_min"]) for row in flows}
    assert gap["balanced"] < gap["gradient flow"]


def check_gibbs_steady_state(found):
    runs, orders = found
    for row in orders:
        assert number(row["fitted order"]) > 1.5, row
    for row in runs:
        assert number(row["residual"]) < number(row["L¹(μ(t_end) − μ*)"]), row


def check_asymptotic_rate(found):
    rows = found[0]
    pure = next(r for r in rows if r["case"].startswith("A") and "no transport" in r["flow"])
    assert number(pure["t_end·(E(t_end) − E*)"]) == pytest.approx(number(pure["exact t_end·(E − E*)"]),
                                                                 rel=1e-3)
    stuck = next(r for r in rows if r["case"].startswith("B") and "gradient" in r["flow"])
    assert number(stuck["growth over the last third"]) > 1.4        # E − E* stalls: t·(E − E*) grows
    for row in rows:
        if "birth–death + transport" in row["flow"]:
            assert number(row["growth over the last third"]) <= 1.0, row


def check_global_minimiser(found):
    final = {row["at t_end"]: row for row in found[1]}
    assert number(final["gradient flow"]["min(V − V̄)"]) < -1.0
    assert abs(number(final["balanced birth–death"]["min(V − V̄)"])) < 0.1
    assert number(final["balanced birth–death"]["E"]) < number(final["gradient flow"]["E"])


def check_law_of_large_numbers(found):
    for table in found:
        for row in table:
            if row["exact Var_μ(φ)"] != "–":
                assert "inside every 99% CI" in row["exact Var_μ(φ)"], row
            if row["observable"] == "w1_x" and row["run"].startswith("1d"):   # 2-D W₁ is grid-biased at quick n
                assert last_number(row["LLN slope [95% CI]"].rstrip("]")) < 0, row   # the CI's upper end


def check_clt_interaction(found):
    rows = found[0]
    assert {row["run"] for row in rows} == {"kernel_1d", "mixture", "multiwell_2d"}
    for row in rows:
        predicted = [float(v) for v in row["predicted per n"].split(", ")]
        assert min(predicted) > 0, row
        if row["α"] == "0":     # no birth–death: no restore noise, nothing depends on n
            assert number(row["n → ∞"]) == number(row["Δt → 0"]) == predicted[0] == predicted[-1], row
        else:                   # at fixed Δt the restore noise falls with n
            assert number(row["Δt → 0"]) >= predicted[0] >= predicted[-1] >= number(row["n → ∞"]), row
    claims = {(row["claim (seed §5)"].split(":")[0], row["run"]): row for row in found[1]}
    for run in ("kernel_1d", "mixture", "multiwell_2d"):
        inside, total = map(int, re.findall(r"(\d+) of (\d+)", claims["Prop. 5.2", run]["measured"])[0])
        assert inside >= 0.75 * total, claims["Prop. 5.2", run]    # 8 replicates at quick settings
        assert "falls" in claims["self-quenching", run]["verdict"]


def check_mixture_gaussians(found):
    for row in found[0]:
        assert 0 < number(row["loss at t = 2"]) < number(row["loss at t = 1"]), row


def check_mixture_2d(found):
    rows = {row["dynamics"]: row for row in found[0]}
    final = {label: number([v for k, v in row.items() if k.startswith("loss at t = ")][-1])
             for label, row in rows.items()}
    assert all(0 < value < 0.05 for value in final.values()), final
    assert final["balanced birth–death, α = 5"] < final["gradient flow"], final   # already at quick settings


def check_mixture_authors(found):
    rows = {(r["start"], r["dynamics"], r["reading"]): r for r in found[0]}
    assert len(rows) == 21
    for row in rows.values():
        assert 0 < number(row["loss at T"]) < 0.1, row
    for reading in ("grid PDE", "grid, finite_n = 200", "particles, n = 200"):   # already at T/10
        assert number(rows["good", "birth–death", reading]["loss at T"]) < \
            number(rows["good", "gradient descent", reading]["loss at T"])


def check_notebook_student_teacher(found):
    rows = {row["variant"].split(" (")[0]: row for row in found[0]}
    assert set(rows) == {"SGD", "SGD + birth–death", "SGD + birth–death with prior"}
    for row in rows.values():
        assert math.isfinite(number(row["final test loss"])), row
    assert number(rows["SGD"]["birth–death events per run"]) == 0
    assert number(rows["SGD + birth–death"]["birth–death events per run"]) > 0


def check_reinjection_limit(found):
    rows = {(r["particle algorithm"], r["grid PDE"]): r for r in found[0]}
    for own in ("reinjection", "reinjection_deficit"):   # each converges to its own PDE
        assert number(rows[own, own]["fitted slope ± s.e."]) < -0.3
    wrong = rows["reinjection", "reinjection_deficit"]  # and not to the other one
    assert number(wrong["fitted slope ± s.e."]) > -0.2


def check_sensitivity(found):
    rows, scan = found
    assert {row["problem"] for row in rows} == {"A", "B"} and len(rows) in (4, 8)   # quick: A at one α
    for row in rows:
        assert number(row["gradient vs JAX difference"]) < 1e-6, row
        assert number(row["gradient vs Numba difference"]) < 1e-6, row
        assert number(row["gradient (JAX)"]) != 0.0
    assert len(scan) in (8, 15) and min(number(r["∂E_T/∂α: relative difference"]) for r in scan) < 1e-8


def check_student_teacher(found):
    main, scan, tuning, test = found
    for row in main + scan + tuning + test:
        assert math.isfinite(number(row["final test loss"])), row
    assert sum("(chosen)" in row["schedule (tuning seeds)"] for row in tuning) == 1
    assert "off after" in test[1]["variant"] and "negative control" in test[2]["variant"]
    events = {row["variant"]: number(row["birth–death events per run"]) for row in main}
    assert events["SGD"] == 0 and events["SGD + birth–death"] > 0


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")}


def test_every_script_has_a_table_check():
    assert sorted(CHECKS) == sorted(s.stem for s in SCRIPTS)


# run from tests/test_validation_particles.py: a file of their own, so that the two test
# workers (one file each at a time) share the quick runs
PARTICLE_SCRIPTS = {"law_of_large_numbers", "clt_interaction", "mixture_authors", "reinjection_limit",
                    "student_teacher", "notebook_student_teacher"}
GRID_SCRIPTS = [s for s in SCRIPTS if s.stem not in PARTICLE_SCRIPTS]


@pytest.mark.parametrize("script", GRID_SCRIPTS, ids=[s.stem for s in GRID_SCRIPTS])
def test_validation_script_quick(script, tmp_path):
    run_quick(script, tmp_path)


def run_quick(script: Path, tmp_path: Path) -> None:
    """Run ``script --quick`` into ``tmp_path``; check its figures and its table."""
    done = subprocess.run([sys.executable, str(script), "--quick", "--outdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.stat().st_size > 10_000 for p in pngs)
    table, = tmp_path.glob("*.md")
    text = table.read_text(encoding="utf-8")
    assert text.startswith("Generated by `python validation/")
    assert not re.search(r"\bnan\b|\binf\b", text, flags=re.I), "a table holds nan or inf"
    CHECKS[script.stem](tables(text))
