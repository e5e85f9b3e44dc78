"""``pdesolve plot`` of a particle result: observables with replicate bands, the histogram next
to the grid run (``--against``), the positions; read back from the figure objects (#17 item 3)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pdesolve.analysis.particle_plot import particle_figures
from pdesolve.cli import main
from pdesolve.config.case import load_case
from pdesolve.drive.grid_run import run_case
from pdesolve.drive.particle_run import run_particles_file

ROOT = Path(__file__).resolve().parent.parent
SHORT = ("time.t_end=0.2", "time.outputs=4")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("particle_plots")
    made = {}
    for name, case_file, extra in (("1d", "gaussian_1d.toml", ("grid.cells=64",)),
                                   ("2d", "birth_death_2d.toml", ("grid.cells=[16, 12]",))):
        case = load_case(ROOT / "cases" / case_file, (*SHORT, *extra))
        particles, grid = folder / f"p{name}.h5", folder / f"g{name}.h5"
        run_particles_file(case, particles, n=60, replicates=3, seed=2, workers=1, keep_positions=True,
                           progress=False)
        run_case(case, grid, progress=False)
        made[name] = (particles, grid)
    return made


def test_the_observables_show_every_replicate_their_mean_band_and_the_grid_run(runs):
    particles, grid = runs["1d"]
    figures = particle_figures(particles, against=grid)
    assert list(figures) == ["observables", "histogram", "positions"]
    figure, title = figures["observables"]
    assert "3 replicates of n = 60" in title
    panels = [ax for ax in figure.axes if ax.get_visible() and ax.get_ylabel()]
    assert [ax.get_ylabel() for ax in panels] == ["mass M", "mean of x", "variance of x",
                                                  "energy E (no entropy term)"]
    for ax in panels:
        lines = ax.get_lines()
        assert len(lines) == 3 + 1 + 1           # replicates, their mean, the grid run
        assert lines[-1].get_label() == "grid run" and ax.collections   # and the ± 1 s.d. band
        assert all(np.isfinite(line.get_ydata()).all() for line in lines)
    mean_panel = panels[1]
    grid_mean = mean_panel.get_lines()[-1].get_ydata()
    particle_mean = mean_panel.get_lines()[3].get_ydata()
    assert np.max(np.abs(grid_mean - particle_mean)) < 0.2      # same case, n = 60: close, not equal


def test_the_histogram_is_drawn_next_to_the_grid_density(runs):
    particles, grid = runs["1d"]
    figure, title = particle_figures(particles, against=grid)["histogram"]
    assert "particle density at t = 0.2" in title
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["particles: mean histogram", "grid μ at t = 0.2"]
    particles2, grid2 = runs["2d"]
    figures = particle_figures(particles2, against=grid2)
    figure, _ = figures["histogram"]
    images = [ax for ax in figure.axes if ax.images]
    assert [ax.get_title() for ax in images] == ["particles (mean histogram)", "grid μ at t = 0.2"]
    assert all(ax.images[0].get_array().std() > 0 for ax in images)     # not blank
    assert len(figure.axes) == 3                                         # and a colour bar
    positions, _ = figures["positions"]
    assert [ax.get_title() for ax in positions.axes] == ["t = 0, n = 60", "t = 0.2, n = 60"]


def test_plot_draws_particle_files_and_refuses_mismatched_inputs(runs, tmp_path, capsys):
    particles, grid = runs["1d"]
    assert main(["plot", str(particles), "-o", str(tmp_path / "a"), "--against", str(grid)]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["histogram.png", "observables.png",
                                                                  "positions.png"]
    capsys.readouterr()
    for args, message in (((str(particles), "--against", str(runs["2d"][1])), "its grid differs"),
                          ((str(grid), "--against", str(grid)), "is a grid result; --against goes with"),
                          ((str(particles), "--against", str(tmp_path / "none.h5")), "none.h5: no such file"),
                          ((str(particles), "--against", str(tmp_path)), "is a directory, not a grid result")):
        assert main(["plot", *args, "-o", str(tmp_path / "b")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_a_particle_file_opens_in_xarray_with_named_dimensions(runs):
    xarray = pytest.importorskip("xarray")
    pytest.importorskip("h5netcdf")
    from pdesolve.io.particle_result import read_particles
    particles, _ = runs["2d"]
    observables = xarray.open_dataset(particles, group="observables", engine="h5netcdf")
    assert observables.covariance.dims == ("replicate", "times", "axis", "axis2")
    assert observables.histogram.dims == ("replicate", "times", "x", "y")
    result = read_particles(particles)
    np.testing.assert_array_equal(observables["mean"].values, result.mean)   # .mean is the method
    np.testing.assert_array_equal(observables.x.values, result.grid.axes[0])
    np.testing.assert_array_equal(observables.mass.sel(times=0.2).values, result.mass[:, -1])  # coordinates
    root = xarray.open_dataset(particles, engine="h5netcdf")
    assert root.positions.dims == ("replicate", "times", "particle", "axis")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # h5netcdf warns when a dimension has no name
        tree = xarray.open_datatree(particles, engine="h5netcdf")
    assert tree["checkpoint"].dataset.weights.dims == ("banks", "slot", "particle")
    assert tree["replicates"].dataset.steps.dims == ("replicate",)


def test_particle_figures_take_the_scale_and_format_and_refuse_times(runs, tmp_path):
    from pdesolve.analysis.figures import PlotOptions
    from pdesolve.analysis.particle_plot import plot_particles
    particles, grid = runs["2d"]
    figure, _ = particle_figures(particles, against=grid, options=PlotOptions(scale="log", vmax=3.0))["histogram"]
    images = [ax.get_images()[0] for ax in figure.axes if ax.get_images()]
    assert len(images) == 2 and all(image.norm.__class__.__name__ == "LogNorm" and image.norm.vmax == 3.0
                                    for image in images)
    written = plot_particles(particles, tmp_path, options=PlotOptions(format="svg"))
    assert [p.suffix for p in written] == [".svg"] * 3
    with pytest.raises(ValueError, match="--times: chooses snapshots of a grid result"):
        particle_figures(particles, options=PlotOptions(times=(0.1,)))
