"""``pdesolve export --xdmf``: a sidecar that VTK's XDMF reader (the one ParaView uses) opens as
a time series holding exactly the result's μ and V (#17 item 7)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

vtk = pytest.importorskip("vtk", reason="the test extra installs vtk; without a vtk wheel for this platform")
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

from pdesolve.cli import main
from pdesolve.io.xdmf import export_xdmf
from test_plotting import GRIDS, write_run


def read_back(xdmf):
    """{time: (bounds, {array name: values})} as VTK's XDMF reader gives them."""
    reader = vtk.vtkXdmfReader()
    reader.SetFileName(str(xdmf))
    reader.UpdateInformation()
    times = reader.GetOutputInformation(0).Get(vtk.vtkStreamingDemandDrivenPipeline.TIME_STEPS())
    out = {}
    for t in times:
        reader.UpdateTimeStep(t)
        reader.Update()
        data = reader.GetOutputDataObject(0)
        cells = data.GetCellData()
        out[t] = (data.GetBounds(), {cells.GetArrayName(k): vtk_to_numpy(cells.GetArray(k)).copy()
                                     for k in range(cells.GetNumberOfArrays())})
    return out


@pytest.mark.parametrize("ndim", [2, 3])
def test_vtk_reads_every_snapshot_of_mu_and_v_on_the_case_grid(tmp_path, ndim):
    grid = GRIDS[ndim]
    result = write_run(tmp_path / "run.h5", grid, snapshots=4)
    xdmf = export_xdmf(result)
    assert xdmf == tmp_path / "run.xdmf"
    seen = read_back(xdmf)
    with h5py.File(result) as f:
        times, mu, V = f["snapshots/time"][:], f["snapshots/mu"][:], f["snapshots/V"][:]
    assert list(seen) == pytest.approx(times.tolist())
    for k, (bounds, arrays) in enumerate(seen.values()):
        assert sorted(arrays) == ["V", "mu"]
        assert np.array_equal(arrays["mu"], mu[k].ravel()) and np.array_equal(arrays["V"], V[k].ravel())
        # VTK's X is the case's last (fastest) axis
        expected = [v for a in reversed(range(ndim)) for v in (grid.lower[a], grid.upper[a])]
        assert bounds[:2 * ndim] == pytest.approx(expected)


def test_a_sidecar_elsewhere_points_back_to_the_result(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    result = write_run(tmp_path / "data" / "run.h5", GRIDS[3], snapshots=2)
    (tmp_path / "views").mkdir()
    target = tmp_path / "views" / "film.xdmf"
    assert main(["export", str(result), "--xdmf", "-o", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert "../data/run.h5:/snapshots/mu" in target.read_text()
    assert len(read_back(target)) == 2


def test_refusals_are_one_line_and_nothing_is_overwritten(tmp_path, capsys):
    one_d = write_run(tmp_path / "line.h5", GRIDS[1], snapshots=2)
    two_d = write_run(tmp_path / "plane.h5", GRIDS[2], snapshots=2)
    notes = tmp_path / "notes.xdmf"
    notes.write_text("my notes")
    for args, message in (([str(one_d)], "a 1-D result; XDMF export is for 2-D and 3-D results"),
                          ([str(two_d), "-o", str(tmp_path / "x.vtk")], "must end in .xdmf"),
                          ([str(two_d), "-o", str(notes), "--force"], "is not an XDMF file; refusing"),
                          ([str(tmp_path / "missing.h5")], "missing.h5: no such file"),
                          ([str(tmp_path)], "is a directory, not a result file"),
                          ([str(tmp_path / ".plane.h5.123.partial")], "partial file of a running or killed run")):
        assert main(["export", *args, "--xdmf"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert notes.read_text() == "my notes"
    assert main(["export", str(two_d), "--xdmf"]) == 0
    assert main(["export", str(two_d), "--xdmf"]) == 2
    assert "already exists; use --force" in capsys.readouterr().err
    assert main(["export", str(two_d), "--xdmf", "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.h5", "notes.xdmf", "plane.h5", "plane.xdmf"]
