"""Figures from result files: expected PNGs exist, are valid and are not blank."""
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from pdesolve.model.grid import Grid
from pdesolve.io.grid_result import ResultFormatError, ResultWriter
from pathlib import Path

from matplotlib.colors import LogNorm

from pdesolve.analysis.figures import PlotOptions, axis_names, evenly_chosen
from pdesolve.analysis.plotting import centre_of_mass_slices, marginals, plot_result, result_figures
from pdesolve.cli import main

ROOT = Path(__file__).resolve().parent.parent

GRIDS = {
    1: Grid((-2.0,), (3.0,), (40,), (False,)),
    2: Grid((-2.0, -1.0), (2.0, 1.0), (24, 16), (True, False)),
    3: Grid((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0), (10, 12, 8), (False, False, True)),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(path, grid, *, snapshots=8, save_potential=True, diagnostics=("t", "mass", "energy",
              "dissipation", "v_bar", "min_mu", "l1_change", "step", "dt", "loss")):
    """A Gaussian bump drifting across the box, with made-up but varying diagnostics."""
    mesh = grid.mesh()
    with ResultWriter(path, grid, case_text="", case_source="test",
                      attrs={"title": "drifting bump"}, save_potential=save_potential) as writer:
        for i, t in enumerate(np.linspace(0.0, 2.0, snapshots)):
            centre = [lo + (hi - lo) * (0.25 + 0.2 * t) for lo, hi in zip(grid.lower, grid.upper)]
            mu = np.exp(-sum((c - m) ** 2 for c, m in zip(mesh, centre)) / 0.1)
            V = sum((c - m) ** 2 for c, m in zip(mesh, centre))
            writer.add_snapshot(t, mu, V)
            values = {"t": t, "mass": grid.integrate(mu) * (1 + 1e-12 * i), "energy": np.exp(-t),
                      "dissipation": -np.exp(-t), "v_bar": 0.1, "min_mu": 0.0, "l1_change": 0.0,
                      "step": i, "dt": 0.1, "loss": np.exp(-3 * t)}
            if diagnostics:
                writer.add_diagnostics({name: values[name] for name in diagnostics})
        return writer.finish({})


def assert_is_picture(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100
    assert image[..., :3].std() > 0.01


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_plot_result_writes_all_figures(tmp_path, ndim):
    pyplot_was_loaded = "matplotlib.pyplot" in sys.modules
    result = write_run(tmp_path / "run.h5", GRIDS[ndim])
    outdir = tmp_path / "figures"
    written = plot_result(result, outdir)
    expected = ["diagnostics.png", "potential.png", "snapshots.png"] + (["marginals.png"] if ndim == 3 else [])
    assert sorted(p.name for p in written) == sorted(expected)
    assert all(p.parent == outdir for p in written)
    for path in written:
        assert_is_picture(path)
    if not pyplot_was_loaded:
        assert "matplotlib.pyplot" not in sys.modules


def test_missing_pieces_are_skipped_not_fatal(tmp_path):
    result = write_run(tmp_path / "run.h5", GRIDS[2], save_potential=False, diagnostics=("t", "step"))
    assert plot_result(result, tmp_path) == [tmp_path / "snapshots.png"]
    assert_is_picture(tmp_path / "snapshots.png")


def test_partial_diagnostics_are_plotted(tmp_path):
    result = write_run(tmp_path / "run.h5", GRIDS[1], snapshots=1, diagnostics=("energy",))
    written = plot_result(result, tmp_path)
    assert sorted(p.name for p in written) == ["diagnostics.png", "potential.png", "snapshots.png"]
    for path in written:
        assert_is_picture(path)


def test_non_result_is_refused(tmp_path):
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not hdf5")
    with pytest.raises(ResultFormatError):
        plot_result(bogus, tmp_path)


def test_evenly_chosen_snapshots():
    assert evenly_chosen(10, 6) == [0, 2, 4, 5, 7, 9]
    assert evenly_chosen(3, 6) == [0, 1, 2]
    assert evenly_chosen(1, 6) == [0]
    assert evenly_chosen(50, 2) == [0, 49]


def test_densities_with_a_tall_peak_get_a_log_scale_so_no_panel_is_blank():
    from pdesolve.analysis.figures import LOG_DECADES, density_norm
    x = np.linspace(-3, 3, 64)
    bump = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2))          # one Gaussian: linear shows it
    assert not isinstance(density_norm([bump]), LogNorm)
    assert not isinstance(density_norm([bump, 3 * bump]), LogNorm)
    wide = np.full((8, 8), 0.17)                                  # birth_death_2d at t = 0 ...
    peaked = np.zeros((8, 8))
    peaked[4, 4] = 193.0                                          # ... and at the end
    norm = density_norm([wide, peaked])
    assert isinstance(norm, LogNorm) and norm.vmax == 193.0 and norm.vmin == 193.0 * 10.0 ** -LOG_DECADES
    assert 0.1 < norm(0.17) < 0.9                 # the flat panel is neither black nor saturated


# -- the figures read back as objects (#17 item 1) ---------------------------------------------

GAUSSIAN_1D = ROOT / "cases" / "gaussian_1d.toml"


def colour_bars(figure):
    return [ax for ax in figure.axes if hasattr(ax, "_colorbar")]


def panels(figure):
    return [ax for ax in figure.axes if not hasattr(ax, "_colorbar") and ax.axison]


def test_2d_panels_are_all_visible_labelled_and_have_a_colour_bar(tmp_path):
    figures = result_figures(write_run(tmp_path / "run.h5", GRIDS[2]))
    figure, title = figures["snapshots"]
    assert title == "drifting bump: density μ"
    shown = panels(figure)
    assert len(shown) == 6 and len(colour_bars(figure)) == 1
    for ax in shown:
        image = ax.get_images()[0]
        assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y" and ax.get_title().startswith("t = ")
        values = image.norm(image.get_array())
        assert np.ptp(values) > 0.5          # the panel shows its bump, not a flat colour
        assert ax.get_aspect() == 1.0        # equal scales


def test_3d_slices_go_through_the_centre_of_mass_and_marginals_integrate_one_axis(tmp_path):
    grid = GRIDS[3]
    mu = np.zeros(grid.shape)
    mu[2, 9, 5] = 1.0            # all mass in one cell off the box centre
    names = ("x", "y", "z")
    planes = centre_of_mass_slices(grid, mu, names)
    assert [label for *_, label in planes] == [f"z = {grid.axes[2][5]:.3g}", f"y = {grid.axes[1][9]:.3g}",
                                                f"x = {grid.axes[0][2]:.3g}"]
    assert all(image.max() == 1.0 for image, *_ in planes)   # each slice holds the mass
    for image, h, v in marginals(grid, mu):
        assert image.shape == (grid.cells[h], grid.cells[v])
        assert grid.integrate(mu) == pytest.approx(image.sum() * grid.spacing[h] * grid.spacing[v])
    figures = result_figures(write_run(tmp_path / "run.h5", grid))
    figure, _ = figures["snapshots"]
    assert len(panels(figure)) == 9 and len(colour_bars(figure)) == 1   # three times by default
    assert [ax.get_xlabel() + ax.get_ylabel() for ax in panels(figure)[:3]] == ["xy", "xz", "yz"]
    figure, title = figures["marginals"]
    assert title.endswith("marginal densities of μ") and panels(figure)[0].get_title().endswith("∫ dz")


def test_neuron_form_axes_are_named_z_and_c(tmp_path):
    case = (ROOT / "cases" / "mixture_gaussians.toml").read_text()
    assert axis_names({"case_text": case}, 2) == ("z", "c")
    assert axis_names({"case_text": case.replace("[grid]", "[grid]")}, 3) == ("z₁", "z₂", "c")
    assert axis_names({"case_text": "not toml ["}, 2) == ("x", "y")
    assert axis_names({}, 3) == ("x", "y", "z")


def test_times_scale_vmax_format_and_dpi(tmp_path):
    result = write_run(tmp_path / "run.h5", GRIDS[2])     # snapshots at 0, 2/7, ..., 2
    figures = result_figures(result, options=PlotOptions(times=(0.0, 0.9, 2.0), scale="log", vmax=0.5))
    figure, _ = figures["snapshots"]
    shown = panels(figure)
    assert [ax.get_title() for ax in shown] == ["t = 0", f"t = {6 / 7:.4g}", "t = 2"]   # the nearest stored
    norm = shown[0].get_images()[0].norm
    assert isinstance(norm, LogNorm) and norm.vmax == 0.5
    linear = result_figures(result, options=PlotOptions(scale="linear"))["snapshots"][0]
    assert not isinstance(panels(linear)[0].get_images()[0].norm, LogNorm)
    written = plot_result(result, tmp_path / "pdf", options=PlotOptions(format="pdf", dpi=50))
    assert sorted(p.name for p in written) == ["diagnostics.pdf", "potential.pdf", "snapshots.pdf"]
    assert all(p.read_bytes()[:5] == b"%PDF-" for p in written)
    small = plot_result(result, tmp_path / "small", options=PlotOptions(dpi=40))
    assert imread(small[0]).shape[0] < imread(plot_result(result, tmp_path / "big")[0]).shape[0] / 2
    with pytest.raises(ValueError, match=r"--times: 3 is outside the snapshots of .*run.h5 \(t = 0 \.\.\. 2\)"):
        result_figures(result, options=PlotOptions(times=(3.0,)))
    many = write_run(tmp_path / "many.h5", GRIDS[2], snapshots=14)
    assert len(panels(result_figures(many, options=PlotOptions(times=tuple(np.linspace(0, 2, 12))))["snapshots"][0])) == 12
    with pytest.raises(ValueError, match=r"--times: 13 snapshots are too many for one figure \(allowed: at most 12\)"):
        result_figures(many, options=PlotOptions(times=tuple(np.linspace(0, 2, 13))))


def test_exact_solution_is_overlaid_and_its_error_drawn(tmp_path):
    out = tmp_path / "g.h5"
    assert main(["run", str(GAUSSIAN_1D), "--set", "time.t_end=0.2", "--set", "grid.cells=64", "-o", str(out), "-q"]) == 0
    figures = result_figures(out)
    ax = panels(figures["snapshots"][0])[0]
    assert [line.get_label() for line in ax.get_lines()][0] == "exact"
    assert len(ax.get_lines()) == len(ax.collections[0].get_segments())   # one exact curve per snapshot
    assert ax.get_legend() is not None
    error_ax = panels(figures["exact"][0])[0]
    errors = error_ax.get_lines()[0].get_ydata()
    assert errors[0] < 1e-12 and 0 < errors[-1] < 0.05        # sampled μ0 exact; a small error after
    mixture = tmp_path / "m.h5"
    assert main(["run", str(ROOT / "cases" / "mixture_gaussians.toml"), "--set", "time.t_end=0.05",
                 "--set", "grid.cells=[16, 12]", "-o", str(mixture), "-q"]) == 0
    assert "exact" not in result_figures(mixture)


@pytest.mark.parametrize("args, message", [
    (["--times", "0,x"], "--times: expected a number, got 'x'"),
    (["--times", ""], "--times: expected a comma-separated list"),
    (["--times", "9"], "--times: 9 is outside the snapshots"),
    (["--scale", "cubic"], "--scale: 'cubic' is not one of auto, linear, log"),
    (["--vmax", "-1"], "--vmax: -1 is not a positive finite number"),
    (["--vmax", "nan"], "--vmax: nan is not a positive finite number"),
    (["--format", "jpg"], "--format: 'jpg' is not one of png, pdf, svg"),
    (["--dpi", "5000"], "--dpi: 5000 is out of range"),
    (["--dpi", "1.5"], "--dpi: expected an integer"),
])
def test_bad_plot_options_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    result = write_run(tmp_path / "run.h5", GRIDS[1])
    outdir = tmp_path / "figures"
    assert main(["plot", str(result), "-o", str(outdir), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not outdir.exists()


def test_options_that_do_not_apply_are_refused(tmp_path, capsys):
    from pdesolve.analysis.sweep_plot import plot_sweep
    with pytest.raises(ValueError, match="not to a sweep's scalars"):
        plot_sweep(tmp_path, tmp_path / "out", PlotOptions(scale="log"))
