"""Figures from result files: expected PNGs exist, are valid and are not blank."""
import sys

import numpy as np
import pytest
from matplotlib.image import imread

from pdesolve.model.grid import Grid
from pdesolve.io.grid_result import ResultFormatError, ResultWriter
from pdesolve.analysis.plotting import evenly_chosen, plot_result

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
    assert sorted(p.name for p in written) == ["diagnostics.png", "potential.png", "snapshots.png"]
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
    from matplotlib.colors import LogNorm
    from pdesolve.analysis.plotting import LOG_DECADES, density_norm
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
