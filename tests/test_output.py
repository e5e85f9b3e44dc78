"""HDF5 result files: round trip, atomic writing, refusal to overwrite, format errors."""
from datetime import datetime

import h5py
import numpy as np
import pytest

import pdesolve
from pdesolve.model.grid import Grid
from pdesolve.io.grid_result import (
    ResultFormatError,
    ResultWriter,
    open_result,
    read_result,
)

GRIDS = {
    1: Grid((-2.0,), (3.0,), (17,), (False,)),
    2: Grid((-2.0, 0.0), (2.0, 1.5), (12, 7), (True, False)),
    3: Grid((0.0, -1.0, -1.0), (1.0, 1.0, 2.0), (5, 6, 4), (False, True, True)),
}
CASE_TEXT = "[case]\ntitle = 'moving gaussian'\n"


def moving_gaussian(grid: Grid, t: float) -> np.ndarray:
    """exp(-|θ - m(t)|² / (2 s²)) with a centre m(t) moving along the diagonal."""
    centre = [lo + (hi - lo) * (0.3 + 0.1 * t) for lo, hi in zip(grid.lower, grid.upper)]
    r2 = sum((c - m) ** 2 for c, m in zip(grid.mesh(), centre))
    return np.exp(-r2 / (2 * 0.3 ** 2))


def fake_run(grid: Grid, times, *, save_potential=True):
    mu = np.stack([moving_gaussian(grid, t) for t in times])
    V = np.stack([0.5 * sum(c ** 2 for c in grid.mesh()) + t for t in times])
    rows = [{"t": t, "mass": grid.integrate(m), "energy": float(np.sum(m * v)), "step": i}
            for i, (t, m, v) in enumerate(zip(times, mu, V))]
    return mu, (V if save_potential else None), rows


def write_run(path, grid, times, *, save_potential=True, compression=4, force=False, attrs=None):
    mu, V, rows = fake_run(grid, times, save_potential=save_potential)
    with ResultWriter(path, grid, case_text=CASE_TEXT, case_source="cases/gauss.toml",
                      attrs=attrs or {}, save_potential=save_potential,
                      compression=compression, force=force) as writer:
        for i, t in enumerate(times):
            writer.add_snapshot(t, mu[i], None if V is None else V[i])
            writer.add_diagnostics(rows[i])
        writer.finish({"steps": len(times), "final_energy": rows[-1]["energy"], "method": "fv"})
    return mu, V, rows


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_round_trip_is_exact(tmp_path, ndim):
    grid = GRIDS[ndim]
    times = np.array([0.0, 0.25, 0.5, 1.0])
    path = tmp_path / "run.h5"
    attrs = {"title": "moving gaussian", "alpha": 0.5, "seed": 7}
    mu, V, rows = write_run(path, grid, times, attrs=attrs)

    result = read_result(path)
    assert result.grid == grid
    np.testing.assert_array_equal(result.times, times)
    np.testing.assert_array_equal(result.mu, mu)
    np.testing.assert_array_equal(result.V, V)
    assert result.mu.shape == (len(times), *grid.shape)
    assert set(result.diagnostics) == {"t", "mass", "energy", "step"}
    for name in result.diagnostics:
        np.testing.assert_array_equal(result.diagnostics[name], [row[name] for row in rows])
    assert result.summary == {"steps": 4, "final_energy": rows[-1]["energy"], "method": "fv"}
    created = result.attrs.pop("created")
    assert datetime.fromisoformat(created).tzinfo is not None
    assert result.attrs == {"pdesolve_version": pdesolve.__version__, "case_text": CASE_TEXT,
                            "case_source": "cases/gauss.toml", "status": "complete", **attrs}


def test_layout_has_grid_attrs_and_dimension_scales(tmp_path):
    grid = GRIDS[3]
    path = tmp_path / "run.h5"
    write_run(path, grid, [0.0, 1.0], compression=0)
    with h5py.File(path, "r") as f:
        g = f["grid"].attrs
        np.testing.assert_array_equal(g["lower"], grid.lower)
        np.testing.assert_array_equal(g["upper"], grid.upper)
        np.testing.assert_array_equal(g["cells"], grid.cells)
        np.testing.assert_array_equal(g["periodic"], [0, 1, 1])
        assert list(g["boundary"]) == ["noflux", "periodic", "periodic"]
        for field in ("mu", "V"):
            ds = f["snapshots"][field]
            assert list(ds.dims[0].keys()) == ["time"]
            np.testing.assert_array_equal(ds.dims[0][0][:], [0.0, 1.0])
            for a, name in enumerate("xyz"):
                assert list(ds.dims[a + 1].keys()) == [name]
                np.testing.assert_array_equal(ds.dims[a + 1][0][:], grid.axes[a])
            assert ds.chunks == (1, *grid.shape)
        np.testing.assert_array_equal(f["snapshots/x"][:], f["grid/x"][:])
        assert list(f["diagnostics/energy"].dims[0].keys()) == ["t"]


@pytest.mark.parametrize("level", [0, 9])
def test_compression_levels_are_readable(tmp_path, level):
    grid = GRIDS[2]
    path = tmp_path / "run.h5"
    mu, V, _ = write_run(path, grid, [0.0, 0.5], compression=level)
    with h5py.File(path, "r") as f:
        ds = f["snapshots/mu"]
        if level == 0:
            assert ds.compression is None and not ds.shuffle
        else:
            assert ds.compression == "gzip" and ds.compression_opts == 9 and ds.shuffle
    result = read_result(path)
    np.testing.assert_array_equal(result.mu, mu)
    np.testing.assert_array_equal(result.V, V)


def test_potential_can_be_left_out(tmp_path):
    path = tmp_path / "run.h5"
    write_run(path, GRIDS[1], [0.0, 1.0], save_potential=False)
    assert read_result(path).V is None
    with h5py.File(path, "r") as f:
        assert "V" not in f["snapshots"]


def test_refuses_to_overwrite_without_force(tmp_path):
    grid = GRIDS[1]
    path = tmp_path / "run.h5"
    path.write_bytes(b"old results")
    with pytest.raises(FileExistsError, match="--force"):
        ResultWriter(path, grid, case_text="", case_source="")
    assert path.read_bytes() == b"old results"
    assert list(tmp_path.iterdir()) == [path]

    mu, _, _ = write_run(path, grid, [0.0, 2.0], force=True)
    np.testing.assert_array_equal(read_result(path).mu, mu)
    assert list(tmp_path.iterdir()) == [path]


def test_no_file_at_path_until_finish(tmp_path):
    grid = GRIDS[2]
    path = tmp_path / "run.h5"
    with ResultWriter(path, grid, case_text="", case_source="") as writer:
        writer.add_snapshot(0.0, grid.zeros(), grid.zeros())
        writer.add_diagnostics({"t": 0.0})
        assert not path.exists()
        assert writer.temp_path.exists() and writer.temp_path.parent == tmp_path
        assert writer.temp_path.name.startswith(".run.h5.") and writer.temp_path.suffix == ".creating"
        writer.write_checkpoint(grid.zeros(), t=0.0, steps=0, conserved_mass=0.0, snapshots=1,
                                next_output=1, last_dt=0.0)
        # crash-safe (SWMR) from the first checkpoint on, under the .partial name
        assert writer.temp_path.suffix == ".partial" and writer.temp_path.exists()
        assert not path.exists()
        assert writer.finish({}) == path
    assert list(tmp_path.iterdir()) == [path]


def test_abort_deletes_temporary_file(tmp_path):
    grid = GRIDS[1]
    writer = ResultWriter(tmp_path / "run.h5", grid, case_text="", case_source="")
    writer.add_snapshot(0.0, grid.zeros(), grid.zeros())
    assert writer.temp_path.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="closed"):
        writer.add_snapshot(1.0, grid.zeros(), grid.zeros())


def test_exception_inside_with_leaves_no_file(tmp_path):
    grid = GRIDS[3]
    with pytest.raises(ZeroDivisionError):
        with ResultWriter(tmp_path / "run.h5", grid, case_text="", case_source="") as writer:
            writer.add_snapshot(0.0, grid.zeros(), grid.zeros())
            1 / 0
    assert list(tmp_path.iterdir()) == []


def test_leaving_with_without_finish_leaves_no_file(tmp_path):
    grid = GRIDS[1]
    with ResultWriter(tmp_path / "run.h5", grid, case_text="", case_source="") as writer:
        writer.add_snapshot(0.0, grid.zeros(), grid.zeros())
    assert list(tmp_path.iterdir()) == []


def test_diagnostics_keys_must_match_first_row(tmp_path):
    with ResultWriter(tmp_path / "run.h5", GRIDS[1], case_text="", case_source="") as writer:
        writer.add_diagnostics({"t": 0.0, "energy": 1.0})
        writer.add_diagnostics({"energy": 0.5, "t": 0.1})  # order does not matter
        with pytest.raises(ValueError, match="keys"):
            writer.add_diagnostics({"t": 0.2})
        with pytest.raises(ValueError, match="keys"):
            writer.add_diagnostics({"t": 0.2, "energy": 0.4, "mass": 1.0})
        path = writer.finish({})
    np.testing.assert_array_equal(read_result(path).diagnostics["energy"], [1.0, 0.5])


def test_snapshot_shapes_are_checked(tmp_path):
    grid = GRIDS[2]
    with ResultWriter(tmp_path / "run.h5", grid, case_text="", case_source="") as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.add_snapshot(0.0, np.zeros(grid.size), grid.zeros())
        with pytest.raises(ValueError, match="V is required"):
            writer.add_snapshot(0.0, grid.zeros())


def test_reserved_attrs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        ResultWriter(tmp_path / "run.h5", GRIDS[1], case_text="", case_source="",
                     attrs={"status": "fake"})
    assert list(tmp_path.iterdir()) == []


def test_not_a_result_raises_format_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ResultFormatError, match="not an HDF5 file"):
        read_result(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_group("grid")
    with pytest.raises(ResultFormatError, match="missing group /snapshots"):
        read_result(other)
    with pytest.raises(FileNotFoundError):
        read_result(tmp_path / "absent.h5")


def test_incomplete_file_is_refused_unless_allowed(tmp_path):
    grid = GRIDS[2]
    path = tmp_path / "run.h5"
    mu, _, _ = write_run(path, grid, [0.0, 0.5, 1.0])
    # emulate a process killed while writing its third snapshot
    with h5py.File(path, "r+") as f:
        f.attrs["status"] = "running"
        del f["summary"]
        f["snapshots/time"].resize((2,))
        f["snapshots/V"].resize(2, axis=0)
        f["diagnostics/mass"].resize((2,))
    with pytest.raises(ResultFormatError, match="incomplete.*allow_incomplete"):
        read_result(path)
    result = read_result(path, allow_incomplete=True)
    assert result.attrs["status"] == "running"
    assert result.summary == {}
    np.testing.assert_array_equal(result.times, [0.0, 0.5])
    np.testing.assert_array_equal(result.mu, mu[:2])
    assert all(len(column) == 2 for column in result.diagnostics.values())
    with open_result(path, allow_incomplete=True) as f:
        assert f.mode == "r"
    with pytest.raises(ResultFormatError, match="incomplete"):
        open_result(path)


@pytest.mark.parametrize("interrupted", [True, False], ids=["interrupted", "killed"])
def test_resume_returns_the_last_checkpoint_and_keeps_what_it_covers(tmp_path, interrupted):
    """ResultWriter.resume, called directly: the checkpoint comes back exactly as written,
    the new writer holds the snapshots and diagnostics rows it covers (a row between two
    snapshots included) and no more, and finishing it gives a complete file at the target
    (the partial file is gone)."""
    grid = GRIDS[2]
    times = [0.0, 0.25, 0.5]
    mu, V, rows = fake_run(grid, times)
    between = [dict(rows[1], t=0.3), dict(rows[1], t=0.4)]
    path = tmp_path / "run.h5"
    writer = ResultWriter(path, grid, case_text=CASE_TEXT, case_source="c.toml", attrs={"title": "r"})
    for i, t in enumerate(times):
        writer.add_snapshot(t, mu[i], V[i])
        writer.add_diagnostics(rows[i])
        if i == 1:   # the checkpoint covers two snapshots and a row after them; the rest is past it
            writer.add_diagnostics(between[0])
            state = {"t": 0.3, "steps": 17.0, "conserved_mass": 2.5, "snapshots": 2.0, "next_output": 2.0,
                     "last_dt": 0.05}
            writer.write_checkpoint(mu[1] * 0.5, **state)
            writer.add_diagnostics(between[1])
    if interrupted:
        writer.suspend()
    else:   # as after kill -9: the .partial file stays where it is, not renamed, no status
        writer._file.close()
        assert [p.suffix for p in tmp_path.glob(".*")] == [".partial"]
    resumed, checkpoint = ResultWriter.resume(path)
    with resumed:
        assert np.array_equal(checkpoint.pop("mu"), mu[1] * 0.5)
        assert checkpoint == state
        assert resumed.last_snapshot().tolist() == mu[1].tolist()
        assert {name: ds[:].tolist() for name, ds in resumed.diagnostics().items()} == \
            {name: [float(r[name]) for r in (*rows[:2], between[0])] for name in rows[0]}
        resumed.add_snapshot(0.75, mu[2], V[2])
        resumed.add_diagnostics(rows[2])
        assert resumed.last_snapshot().tolist() == mu[2].tolist()   # the third of three
        resumed.finish({"steps": 3})
    result = read_result(path)
    assert result.times.tolist() == [0.0, 0.25, 0.75]
    assert np.array_equal(result.mu[:2], mu[:2]) and result.attrs["title"] == "r"
    assert not list(tmp_path.glob(".*"))


def test_resume_takes_the_newest_of_several_partial_files(tmp_path):
    """Two killed runs left partial files beside the target: the newer one is resumed."""
    import os
    import shutil
    grid = GRIDS[1]
    mu, V, rows = fake_run(grid, [0.0])
    path = tmp_path / "run.h5"
    writer = ResultWriter(path, grid, case_text=CASE_TEXT, case_source="c.toml", attrs={})
    writer.add_snapshot(0.0, mu[0], V[0])
    writer.add_diagnostics(rows[0])
    writer.write_checkpoint(mu[0], t=0.1, steps=1.0, conserved_mass=1.0, snapshots=1.0, next_output=1.0,
                            last_dt=0.1)
    writer._file.close()
    older, = tmp_path.glob(".*.partial")
    newer = tmp_path / ".run.h5.999999.partial"
    shutil.copy(older, newer)
    with h5py.File(newer, "r+") as f:
        f["checkpoint/t"][f["checkpoint/current"][()]] = 0.2
    os.utime(older, (1_000_000, 1_000_000))
    resumed, checkpoint = ResultWriter.resume(path)
    with resumed:
        assert checkpoint["t"] == 0.2


def test_resume_of_a_file_that_is_not_hdf5_is_a_format_error(tmp_path):
    path = tmp_path / "run.h5"
    path.write_bytes(b"not an HDF5 file at all")
    with pytest.raises(ResultFormatError, match="not an HDF5 file"):
        ResultWriter.resume(path)


def test_more_snapshots_than_cells_on_the_last_axis(tmp_path):
    """The snapshot count comes from the time axis of every snapshot dataset, not a grid axis."""
    grid = GRIDS[3]                      # 4 cells on its last axis
    times = np.linspace(0.0, 1.0, 7)
    mu, V, _ = write_run(tmp_path / "run.h5", grid, times)
    result = read_result(tmp_path / "run.h5")
    assert result.times.shape == (7,) and np.array_equal(result.mu, mu) and np.array_equal(result.V, V)


def test_list_attributes_come_back_as_lists_of_str(tmp_path):
    write_run(tmp_path / "run.h5", GRIDS[1], [0.0, 1.0], attrs={"overrides": ["grid.cells=8", "time.t_end=2"]})
    assert read_result(tmp_path / "run.h5").attrs["overrides"] == ["grid.cells=8", "time.t_end=2"]
