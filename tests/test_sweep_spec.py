"""Sweep files (no Dask needed): tasks, names, overrides and seeds; the one-line errors;
the scalars read back; the CLI's refusals before any work."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pdesolve.analysis.exact import exact_flow_of_case
from pdesolve.config.case import CaseError, _parse_override_value, load_case
from pdesolve.sweep.scalars import first_time_at_or_below, threshold_name
from pdesolve.sweep.spec import load_sweep, toml_value

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "cases" / "gaussian_1d.toml"


def sweep_file(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'case = "{BASE}"\n{body}')
    return path


def test_product_zip_and_replicates_make_every_task_with_its_overrides_seed_and_name(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, '''
task = "particles"
set = ["time.t_end = 0.5"]
[product]
dynamics.alpha = [0.0, 2.5]
[zip]
"grid.cells" = [[32], [64]]
"time.dt" = [0.02, 0.01]
[replicates]
count = 2
seed = 7
'''))
    assert sweep.axes == ("dynamics.alpha", "grid.cells", "time.dt")
    assert len(sweep.tasks) == 2 * 2 * 2
    first, last = sweep.tasks[0], sweep.tasks[-1]
    assert first.name == "alpha=0_cells=32_dt=0.02_r0"
    assert last.name == "alpha=2.5_cells=64_dt=0.01_r1"
    assert last.overrides == ("time.t_end = 0.5", "dynamics.alpha=2.5", "grid.cells=[64]",
                              "time.dt=0.01", "particles.seed=8")
    assert [t.seed for t in sweep.tasks[:2]] == [7, 8]
    case = load_case(sweep.case, last.overrides)
    assert (case.dynamics.alpha.value, case.grid.cells, case.time.dt, case.particles.seed) == (2.5, (64,), 0.01, 8)
    assert sweep.target(tmp_path, last) == tmp_path / "alpha=2.5_cells=64_dt=0.01_r1.h5"


def test_a_sweep_without_axes_is_one_task_named_base_and_a_shared_leaf_keeps_its_section(tmp_path):
    assert [t.name for t in load_sweep(sweep_file(tmp_path, "")).tasks] == ["base"]
    sweep = load_sweep(sweep_file(tmp_path, '[product]\n"initial.mean" = [0.5]\n"potential.center" = [0.0]\n'
                                  '"interaction.strength" = [1.0]\n"particles.n" = [10]\n"initial.std" = [0.5]\n'))
    assert sweep.tasks[0].name == "mean=0.5_center=0_strength=1_n=10_std=0.5"
    sweep = load_sweep(sweep_file(tmp_path, '[product]\n"potential.center" = [0.0]\n"dynamics.prior.center" = [1.0]\n'))
    assert sweep.tasks[0].name == "potential.center=0_dynamics.prior.center=1"


@pytest.mark.parametrize("body, message", [
    ('tasks = "run"', "s.toml: tasks: unknown key, did you mean 'task'?"),
    ('task = "grid"', "s.toml: task: 'grid' is not allowed (allowed: run, particles, compare)"),
    ('[product]\n"grid" = [1]', "s.toml: product.grid: expected a case key section.key or section.sub.key"),
    ('[product]\n"gird.cells" = [1]', "s.toml: product.gird.cells: unknown case section 'gird', did you mean"),
    ('[product]\n"grid.cells" = []', "s.toml: product.grid.cells: expected a non-empty array of values"),
    ('[product]\n"grid.cells" = 64', "s.toml: product.grid.cells: expected a non-empty array of values, got 64"),
    ('[product]\n"grid.cells" = [64, 64]', "s.toml: product.grid.cells: a value is listed twice"),
    ('[zip]\n"grid.cells" = [8, 16]\n"time.dt" = [0.1]', "s.toml: zip: the arrays of [zip] are varied together"),
    ('[product]\n"time.dt" = [0.1]\n[zip]\n"time.dt" = [0.2]', "s.toml: zip.time.dt: is also in [product]"),
    ('[replicates]\ncount = 3', "s.toml: replicates: a grid run is deterministic"),
    ('task = "particles"\n[replicates]\ncount = 0', "s.toml: replicates.count: 0 is out of range (allowed: count >= 1)"),
    ('task = "particles"\n[replicates]\ncopies = 2', "s.toml: replicates.copies: unknown key (allowed: count, seed)"),
    ('[options]\nn = 10', "s.toml: options.n: not an option of task = 'run' (allowed: none for task = 'run')"),
    ('task = "compare"\n[options]\nreplicates = 1', "s.toml: options.replicates: 1 is out of range"),
    ('task = "compare"\n[options]\nns = [10, 0]', "s.toml: options.ns: 0 is out of range"),
    ('task = "compare"\n[options]\ndt = -1.0', "s.toml: options.dt: expected a positive finite number"),
    ('[thresholds]\nlos = [1e-3]', "s.toml: thresholds.los: not a diagnostic, did you mean 'loss'?"),
    ('[thresholds]\nloss = ["low"]', "s.toml: thresholds.loss: expected finite numbers"),
    ('task = "particles"\n[thresholds]\nloss = [1e-3]', "s.toml: thresholds: times to thresholds are read"),
    ('set = ["time.t_end"]', "s.toml: set: 'time.t_end': expected section.key=value"),
    ('set = "time.t_end=1"', "s.toml: set: expected an array"),
    ('[product]\n"initial.kind" = ["a b", "a-b"]', "s.toml: product: two tasks would write the same file 'kind=a-b'"),
    ('[product]\n"grid.cells" = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"time.dt" = '
     + str(list(range(1, 10002))), "s.toml: product: 100010 tasks; at most 100000"),
    ("[product]\n" + "".join(f'"time.{k}" = {list(range(150))}\n' for k in ("a", "b", "c", "d", "e")),
     "s.toml: product: 75937500000 tasks"),      # refused before the product is built
    ('task = "particles"\n[product]\n"grid.cells" = [8, 16]\n[replicates]\ncount = 50001',
     "s.toml: replicates.count: 100002 tasks"),
    ('[product]\n"dynamics.alpha" = [1.0]\n[product.dynamics]\nalpha = [2.0]',
     "s.toml: product.dynamics.alpha: is given twice (as a dotted key and as a table)"),
    ('task = "particles"\n[product]\n"particles.n" = [10, 20]\n[options]\nn = 5',
     "s.toml: product.particles.n: options.n would override it; drop one of the two"),
    ('task = "particles"\nset = ["particles.replicates = 4"]\n[options]\nreplicates = 2',
     "s.toml: set: options.replicates would override it"),
    ('task = "particles"\n[zip]\n"particles.seed" = [1, 2]\n[replicates]\ncount = 2',
     "s.toml: zip.particles.seed: the seeds come from [replicates] (seed + r)"),
    ('task = "compare"\n[product]\n"particles.n" = [10, 20]',
     "s.toml: product.particles.n: compare runs the sizes of options.ns"),
    ('[thresholds]\nloss = [1e-3, 0.001]', "s.toml: thresholds.loss: two values give the same column"),
])
def test_a_bad_sweep_file_is_one_line_naming_the_file_and_key(tmp_path, body, message):
    with pytest.raises(CaseError) as info:
        load_sweep(sweep_file(tmp_path, body))
    assert str(info.value).startswith(message) or message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_the_base_case_must_exist_relative_to_the_sweep_file(tmp_path):
    (tmp_path / "s.toml").write_text('case = "missing.toml"\n')
    with pytest.raises(CaseError, match=r"s.toml: case: .*missing.toml: no such case file"):
        load_sweep(tmp_path / "s.toml")
    (tmp_path / "s.toml").write_text('title = "no case"\n')
    with pytest.raises(CaseError, match="s.toml: case: missing required key"):
        load_sweep(tmp_path / "s.toml")
    with pytest.raises(CaseError, match="nope.toml: file: no such file"):
        load_sweep(tmp_path / "nope.toml")
    (tmp_path / "s.toml").write_text("case = [")
    with pytest.raises(CaseError, match="s.toml: toml: not valid TOML"):
        load_sweep(tmp_path / "s.toml")


values = st.recursive(
    st.one_of(st.booleans(), st.integers(-10**18, 10**18), st.floats(allow_nan=False),
              st.text(max_size=12)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(values)
def test_a_parameter_value_written_for_set_reads_back_as_the_same_value(value):
    assert _parse_override_value(toml_value(value)) == value


def test_a_table_valued_axis_makes_cases_and_names(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, 'set = ["dynamics.reaction = reinjection"]\n[product]\n'
                                  '"dynamics.prior" = [{kind = "gaussian", mean = 0.5}, {kind = "uniform"}]'))
    assert [t.name for t in sweep.tasks] == ["prior=kind-gaussian-mean-0.5", "prior=kind-uniform"]
    assert load_case(sweep.case, sweep.tasks[0].overrides).dynamics.prior["mean"] == (0.5,)
    assert load_case(sweep.case, sweep.tasks[1].overrides).dynamics.prior.kind == "uniform"


def test_a_bad_value_is_named_after_the_sweep_files_key_and_fails_its_task_only(tmp_path):
    from pdesolve.sweep.engine import check_tasks
    with pytest.raises(CaseError) as info:     # every task fails: the sweep file is wrong
        check_tasks(load_sweep(sweep_file(tmp_path, '[product]\n"dynamics.alpah" = [1.0, 2.0]')))
    assert f"{tmp_path}/s.toml: product.dynamics.alpah: unknown key, did you mean 'alpha'?" in str(info.value)
    with pytest.raises(CaseError, match=r"/s.toml: set: time.t_end: -1.0 is out of range"):
        check_tasks(load_sweep(sweep_file(tmp_path, 'set = ["time.t_end=-1.0"]')))
    failed = check_tasks(load_sweep(sweep_file(tmp_path, '[zip]\n"dynamics.alpha" = [1.0, -1.0]')))
    assert list(failed) == [1]
    assert failed[1].reason == f"{tmp_path}/s.toml: zip.dynamics.alpha: -1.0 is out of range (allowed: alpha >= 0)"


def test_resume_refuses_a_folder_whose_sweep_file_or_base_case_has_changed(tmp_path):
    from pdesolve.sweep.engine import check_folder, start_folder
    case = tmp_path / "case.toml"
    case.write_text(BASE.read_text())
    path = tmp_path / "s.toml"
    path.write_text('case = "case.toml"\n[product]\n"dynamics.alpha" = [0.0]\n')
    sweep = load_sweep(path)
    start_folder(sweep, tmp_path / "out", resume=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["base_case.toml", "sweep.toml"]
    check_folder(sweep, tmp_path / "out", resume=True, force=False)
    case.write_text(BASE.read_text().replace("stiffness = 1.0", "stiffness = 2.0"))
    with pytest.raises(CaseError, match=r"s.toml: --resume: the base case .*case.toml has changed since"):
        check_folder(load_sweep(path), tmp_path / "out", resume=True, force=False)
    path.write_text(path.read_text() + "# edited\n")
    with pytest.raises(CaseError, match="was started from a different sweep file"):
        check_folder(load_sweep(path), tmp_path / "out", resume=True, force=False)


def test_a_table_plots_without_axes_and_ignores_parameters_of_one_value(tmp_path):
    from pdesolve.analysis.sweep_plot import plot_sweep, sweep_figures
    from pdesolve.sweep.table import write_table
    from pdesolve.sweep.tasks import TaskOutcome
    pytest.importorskip("h5netcdf")
    for body, expected in (("", "task"), ('[product]\n"time.t_end" = [1.0]\n"time.cfl" = [0.5]\n'
                                          '"grid.cells" = [8, 16]\n"time.outputs" = [2]', "grid.cells")):
        sweep = load_sweep(sweep_file(tmp_path, body))
        outcomes = [TaskOutcome(index=t.index, status="complete", scalars={"energy_final": 1.0 + t.index})
                    for t in sweep.tasks]
        folder = tmp_path / f"out{len(sweep.tasks)}"
        folder.mkdir()
        write_table(sweep, outcomes, folder / "sweep.nc")
        figures = sweep_figures(folder)
        assert list(figures) == ["energy_final"]
        axes = figures["energy_final"][0].axes[0]
        assert axes.get_xlabel() == expected and axes.get_ylabel() == "energy_final"
        assert sum(len(line.get_xdata()) for line in axes.get_lines()) == len(sweep.tasks)
        written = plot_sweep(folder, folder / "plots")
        assert [p.name for p in written] == ["energy_final.png"]


def test_the_time_to_a_threshold_is_interpolated_between_diagnostic_times():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    loss = np.array([1.0, 0.5, 0.1, 0.05])
    assert first_time_at_or_below(t, loss, 0.3) == pytest.approx(1.5)
    assert first_time_at_or_below(t, loss, 0.1) == 2.0
    assert first_time_at_or_below(t, loss, 2.0) == 0.0
    assert math.isnan(first_time_at_or_below(t, loss, 0.01))
    assert threshold_name("loss", 5e-3) == "t_loss_le_0.005"


def test_the_exact_flow_of_a_case_is_found_only_where_there_is_one():
    flow = exact_flow_of_case(load_case(BASE))
    assert (flow.a, flow.m0, flow.s0, flow.alpha.value, flow.reaction) == (1.0, (1.0,), 0.5, 1.0, "balanced")
    for overrides in (("potential.center=0.5",), ("interaction.kind=gaussian",), ("grid.boundary=periodic",),
                      ("dynamics.reaction=reinjection", "dynamics.prior.kind=uniform"),
                      ("dynamics.tau=0.1",)):   # diffusion and a reaction: no closed form
        assert exact_flow_of_case(load_case(BASE, overrides)) is None, overrides
    assert exact_flow_of_case(load_case(ROOT / "cases" / "mixture_gaussians.toml")) is None
    assert exact_flow_of_case(load_case(BASE, ("interaction.kind=quadratic", "interaction.strength=0.5"))).b == 0.5
    # K ⋆ μ scales with the mass: the flow's b is strength × M₀; a + b M₀ ≤ 0 has no flow
    assert exact_flow_of_case(load_case(BASE, ("interaction.kind=quadratic", "interaction.strength=0.5",
                                               "initial.mass=2.0"))).b == 1.0
    assert exact_flow_of_case(load_case(BASE, ("interaction.kind=quadratic", "interaction.strength=-1.0",
                                               "dynamics.reaction=none"))) is None


def _cli(capsys, *args: str) -> tuple[int, str]:
    """Exit code and stderr of ``pdesolve ARGS``, run in this process."""
    from pdesolve.cli import main
    code = main(list(args))
    return code, capsys.readouterr().err


def test_the_cli_refuses_bad_sweeps_and_options_in_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = sweep_file(tmp_path, '[zip]\n"grid.cells" = [8, 16]\n"time.dt" = [0.1]')
    good = sweep_file(tmp_path, '[product]\n"dynamics.alpha" = [0.0]', "good.toml")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    cases = [
        ((str(bad),), "s.toml: zip: the arrays of [zip] are varied together"),
        ((str(good), "--workers", "0"), "--workers: 0 is out of range (allowed: >= 1)"),
        ((str(good), "--workers", "99999999"), "--workers: 99999999 is out of range (allowed: <= "),
        ((str(good), "--resume", "--force"), "--resume and --force: give one"),
        ((str(good), "-o", "full"), "full already holds files; use --resume to continue its sweep or --force"),
        ((str(good), "-o", "full", "--force"), "full: is not a sweep folder (no sweep.toml); refusing to empty it"),
        ((str(good), "-o", "nothing", "--resume"), "nothing: no sweep to resume here (no sweep.toml)"),
    ]
    for args, message in cases:
        code, err = _cli(capsys, "sweep", *args)
        assert code == 2, (args, err)
        assert err.startswith("error: ") and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "good.toml", "s.toml"]
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_without_dask_sweep_and_scheduler_say_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed: ImportError
    good = sweep_file(tmp_path, '[product]\n"dynamics.alpha" = [0.0]')
    for args in (("sweep", str(good)), ("particles", str(BASE), "--scheduler", "tcp://127.0.0.1:1", "-o", "p.h5"),
                 ("compare", str(BASE), "--scheduler", "tcp://127.0.0.1:1", "-o", "report")):
        code, err = _cli(capsys, *args)
        assert code == 2, err
        assert "needs distributed, which is not installed; install it with: pip install 'pdesolve[sweep]'" \
            in err, err
        assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_plot_of_a_folder_that_is_not_a_sweep_is_refused(tmp_path, capsys):
    code, err = _cli(capsys, "plot", str(tmp_path))
    assert code == 2
    assert "is a directory, not a result file, and holds no sweep.nc (not a sweep folder)" in err
