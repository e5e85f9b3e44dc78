"""``output.diagnostics_every``: diagnostics rows between the snapshots, at a cadence of their
own, that leave the run itself untouched (#17 item 5)."""
from __future__ import annotations

import numpy as np
import pytest

from pdesolve.config.case import CaseError, case_from_text
from pdesolve.drive.grid_run import run_case
from pdesolve.io.grid_result import read_result

CASE = """
[grid]
lower = [-2.0]
upper = [2.0]
cells = [48]
[potential]
kind = "quadratic"
[interaction]
kind = "gaussian"
width = 0.5
strength = -0.5
[dynamics]
alpha = 1.0
[initial]
mean = [0.4]
std = 0.5
[time]
t_end = 1.0
outputs = 2
"""


def run(tmp_path, name, *overrides):
    case = case_from_text(tmp_path / "case.toml", CASE, overrides)
    run_case(case, tmp_path / f"{name}.h5", progress=False)
    return read_result(tmp_path / f"{name}.h5")


def test_rows_fall_on_the_first_step_at_each_multiple_and_at_the_snapshots(tmp_path):
    """Fixed Δt = 0.01, rows every 0.1: one row per tenth of the run (rounding of the
    accumulated t does not push a row to the next step), the snapshot rows among them."""
    fixed = run(tmp_path, "fixed", "time.dt=0.01", "output.diagnostics_every=0.1")
    t = fixed.diagnostics["t"]
    np.testing.assert_allclose(t, np.linspace(0.0, 1.0, 11), rtol=0, atol=1e-12)
    assert fixed.diagnostics["step"].tolist() == [10.0 * k for k in range(11)]
    assert set(fixed.times.tolist()) <= set(t.tolist())
    at_snapshots = np.isin(t, fixed.times)
    change = fixed.diagnostics["l1_change"]
    assert np.all(np.isnan(change[~at_snapshots])) and np.all(change[at_snapshots][1:] > 0)


def test_by_default_a_hundred_rows_and_zero_means_the_snapshots_only(tmp_path):
    dense = run(tmp_path, "dense", "time.dt=0.002")
    assert len(dense.diagnostics["t"]) == 101
    assert np.all(np.diff(dense.diagnostics["t"]) > 0)
    sparse = run(tmp_path, "sparse", "time.dt=0.002", "output.diagnostics_every=0")
    assert sparse.diagnostics["t"].tolist() == sparse.times.tolist() == [0.0, 0.5, 1.0]
    # the snapshot rows are the same numbers either way
    at_snapshots = np.isin(dense.diagnostics["t"], dense.times)
    for name, values in sparse.diagnostics.items():
        np.testing.assert_array_equal(dense.diagnostics[name][at_snapshots], values, err_msg=name)


def test_rows_change_nothing_in_the_run(tmp_path):
    """With an interaction (V cached between the rows and the steps) and the adaptive Δt:
    every snapshot of μ and V is bit for bit the same with rows at every step or none."""
    every_step = run(tmp_path, "every", "output.diagnostics_every=1e-6")
    none = run(tmp_path, "none", "output.diagnostics_every=0")
    assert len(every_step.diagnostics["t"]) == every_step.summary["steps"] + 1
    assert np.array_equal(every_step.mu, none.mu) and np.array_equal(every_step.V, none.V)
    energy = every_step.diagnostics["energy"]
    assert np.all(np.diff(energy) <= 1e-12 * abs(energy[0]))   # balanced flow: E decays row by row


def test_a_negative_cadence_is_refused(tmp_path):
    with pytest.raises(CaseError, match=r"output\.diagnostics_every"):
        case_from_text(tmp_path / "case.toml", CASE, ("output.diagnostics_every=-1",))


def test_every_dataset_carries_cf_metadata_and_step_is_an_integer(tmp_path):
    import h5py
    import xarray as xr
    run(tmp_path, "cf", "time.dt=0.01")
    path = tmp_path / "cf.h5"
    with h5py.File(path) as f:
        for group in ("grid", "snapshots", "diagnostics"):
            for name, ds in f[group].items():
                assert "long_name" in ds.attrs, f"{group}/{name}"
                assert ds.attrs.get("units") == (None if name == "step" else "1"), name   # a count has no unit
        assert f["grid/x"].attrs["axis"] == "X"
    diagnostics = xr.open_dataset(path, group="diagnostics", engine="h5netcdf")
    assert diagnostics.step.dtype == np.int64 and diagnostics.step.values[-1] == 100
    assert diagnostics.energy.attrs == {"long_name": "energy E[mu]", "units": "1"}
    assert read_result(path).diagnostics["step"].dtype == np.int64
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # e.g. h5netcdf's warning about unnamed dimensions
        tree = xr.open_datatree(path, engine="h5netcdf")
    assert dict(tree["checkpoint"].dataset.sizes) == {"banks": 2, "x": 48}
    assert dict(tree["snapshots"].dataset.sizes) == {"time": 3, "x": 48}


def test_an_interrupt_on_the_step_onto_a_snapshot_resumes_bit_for_bit(tmp_path, monkeypatch):
    """Stopped right after the step that lands on an output time, the resumed run writes that
    snapshot's row with the Δt of the step that led there (the checkpoint keeps it)."""
    from pdesolve.drive.grid_run import resume_case
    from pdesolve.drive.signals import RunInterrupted
    from pdesolve.fv.solver import Solver
    overrides = ("output.diagnostics_every=0.05",)
    case = case_from_text(tmp_path / "case.toml", CASE, overrides)
    run_case(case, tmp_path / "ref.h5", progress=False)
    reference = read_result(tmp_path / "ref.h5")
    onto_snapshot = int(reference.diagnostics["step"][np.flatnonzero(reference.diagnostics["t"] == 0.5)[0]])
    stop = {"signum": None}
    step = Solver.step

    def stepping(self, dt):
        step(self, dt)
        if self.steps == onto_snapshot:
            stop["signum"] = 2
    monkeypatch.setattr(Solver, "step", stepping)
    with pytest.raises(RunInterrupted):
        run_case(case, tmp_path / "cut.h5", progress=False, stop=stop)
    monkeypatch.setattr(Solver, "step", step)
    resume_case(case, tmp_path / "cut.h5", progress=False)
    resumed = read_result(tmp_path / "cut.h5")
    assert np.array_equal(resumed.mu, reference.mu)
    for name, values in reference.diagnostics.items():
        assert np.array_equal(resumed.diagnostics[name], values, equal_nan=True), name


def test_a_kill_between_writing_a_checkpoint_and_making_it_current_keeps_the_previous_one(tmp_path):
    """The checkpoint is written into the bank not in use and flushed before /checkpoint/current
    names it: a process killed in between leaves the previous checkpoint, whole."""
    import os
    from pdesolve.io.grid_result import ResultWriter, read_checkpoint
    from pdesolve.model.grid import Grid
    grid = Grid((0.0,), (1.0,), (8,), (False,))
    path = tmp_path / "run.h5"
    first = dict(t=0.1, steps=3.0, conserved_mass=1.0, snapshots=1.0, next_output=1.0, last_dt=0.05)
    pid = os.fork()
    if pid == 0:
        try:
            writer = ResultWriter(path, grid, case_text="", case_source="c.toml")
            writer.add_snapshot(0.0, np.ones(8), np.ones(8))
            writer.add_diagnostics({"t": 0.0})
            writer.write_checkpoint(np.full(8, 1.0), **first)
            current = writer._file["checkpoint/current"]
            original = type(current).__setitem__

            def die_on_current(self, key, value):
                if self.name == "/checkpoint/current":
                    os._exit(137)          # as kill -9 would, after the bank was flushed
                original(self, key, value)
            type(current).__setitem__ = die_on_current
            writer.add_diagnostics({"t": 0.2})
            writer.write_checkpoint(np.full(8, 2.0), **dict(first, t=0.3, steps=9.0, last_dt=0.07))
        finally:
            os._exit(1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 137
    partial, = tmp_path.glob(".run.h5.*.partial")
    import h5py
    with h5py.File(partial, "r", swmr=True) as f:
        kept = read_checkpoint(f)
        assert f["checkpoint/t"][1] == 0.3              # the new bank is there, not current
    assert kept.pop("mu").tolist() == [1.0] * 8
    assert kept == dict(first, diagnostics_rows=1.0)
