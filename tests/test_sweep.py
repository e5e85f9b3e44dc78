"""``pdesolve sweep`` on a real Dask LocalCluster (2 worker processes): results equal to the
same tasks run one by one, failures recorded, --resume, a worker killed mid-task, SIGINT;
and particle replicates on Dask equal to those run in this process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

distributed = pytest.importorskip("distributed", reason="the sweep extra (pdesolve[sweep]) is not installed")
xarray = pytest.importorskip("xarray")

from pdesolve.analysis.comparison import compare_into  # noqa: E402
from pdesolve.analysis.sweep_plot import plot_sweep  # noqa: E402
from pdesolve.config.case import load_case  # noqa: E402
from pdesolve.drive.grid_run import run_case  # noqa: E402
from pdesolve.drive.particle_run import DaskPool, run_particles_file  # noqa: E402
from pdesolve.sweep.engine import run_sweep  # noqa: E402
from pdesolve.sweep.spec import load_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "cases" / "gaussian_1d.toml"
VOLATILE = {"created", "wall_time"}   # timestamps: when, and how long


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as local:
        yield local


def contents(path: Path) -> dict:
    """Every attribute and dataset of an HDF5 file, as bytes, except timestamps."""
    found = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key not in VOLATILE and key not in ("DIMENSION_LIST", "REFERENCE_LIST"):
                    value = np.asarray(value)
                    found[f"{name}@{key}"] = value.tolist() if value.dtype.kind == "O" else value.tobytes()
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind != "O":
                found[name] = obj[()].tobytes()
        visit("/", f)
        f.visititems(visit)
    return found


def assert_same_result(a: Path, b: Path, ignore: tuple[str, ...] = ()) -> None:
    """Equal byte for byte apart from timestamps (and what ``ignore`` names by prefix)."""
    first, second = contents(a), contents(b)
    assert first.keys() == second.keys()
    different = [key for key in first if first[key] != second[key] and not key.startswith(ignore)]
    assert not different, different


def write_sweep(tmp_path: Path, body: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'title = "test sweep"\ncase = "{BASE}"\n{body}')
    return path


GRID_SWEEP = '''set = ["time.t_end = 0.3", "time.outputs = 6"]
[product]
"dynamics.alpha" = [0.0, 1.0, -1.0]
"grid.cells" = [32, 64]
[thresholds]
energy = [0.4, 1e-9]
'''


def test_a_grid_sweep_equals_its_tasks_run_one_by_one_and_records_the_failures(cluster, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GRID_SWEEP))
    messages = []
    result = run_sweep(sweep, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False,
                       say=messages.append)
    statuses = [o.status for o in result.outcomes]
    assert statuses == ["complete"] * 4 + ["failed"] * 2
    assert "dynamics.alpha: -1.0 is out of range (allowed: alpha >= 0)" in result.outcomes[-1].reason
    assert sum("fails:" in m for m in messages) == 2
    for task in sweep.tasks[:4]:
        direct = tmp_path / f"direct_{task.name}.h5"
        run_case(load_case(sweep.case.resolve(), task.overrides), direct, progress=False,
                 overrides=task.overrides)
        assert_same_result(sweep.target(tmp_path / "out", task), direct)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [f"{t.name}.h5" for t in sweep.tasks[:4]] + ["base_case.toml", "sweep.nc", "sweep.toml"])

    table = xarray.open_dataset(tmp_path / "out" / "sweep.nc")   # no options
    assert list(table["dynamics.alpha"].values) == [0.0, 0.0, 1.0, 1.0, -1.0, -1.0]
    assert list(table["grid.cells"].values) == [32, 64, 32, 64, 32, 64]
    assert list(table.status.values) == statuses
    assert "dynamics.alpha" in table.coords and "name" in table.coords
    with h5py.File(sweep.target(tmp_path / "out", sweep.tasks[2]), "r") as f:
        summary = dict(f["summary"].attrs)
        energy = f["diagnostics/energy"][:]
        t = f["diagnostics/t"][:]
    assert table.energy_final.values[2] == summary["energy_final"]
    assert table.steps.values[2] == summary["steps"]
    k = int(np.flatnonzero(energy <= 0.4)[0])
    assert t[k - 1] < table["t_energy_le_0.4"].values[2] <= t[k]
    assert np.isnan(table["t_energy_le_1e-09"].values[2]) and np.isnan(table.energy_final.values[5])
    assert np.all(table.l1_error_exact.values[:4] > 0)   # gaussian_1d is an exact flow
    assert table.attrs["sweep_text"] == sweep.text
    written = plot_sweep(tmp_path / "out", tmp_path / "plots")
    assert {p.name for p in written} >= {"energy_final.png", "l1_error_exact.png", "t_energy_le_0.4.png"}

    # --resume: complete tasks are kept as they are, the failed ones are tried again
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.h5")}
    again = run_sweep(sweep, tmp_path / "out", scheduler=cluster.scheduler_address, resume=True,
                      progress=False, say=messages.append)
    assert [o.reused for o in again.outcomes] == [True] * 4 + [False] * 2
    assert [json.dumps(o.scalars, sort_keys=True) for o in again.outcomes] == [   # NaN included
        json.dumps(o.scalars, sort_keys=True) for o in result.outcomes]
    assert stamps == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").glob("*.h5")}


def test_particle_replicates_and_comparisons_on_dask_equal_those_run_here(cluster, tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, '''task = "particles"
set = ["time.t_end = 0.3", "time.outputs = 3"]
[product]
"particles.n" = [50, 200]
[replicates]
count = 2
seed = 11
[options]
replicates = 3
'''))
    result = run_sweep(sweep, tmp_path / "out", scheduler=cluster.scheduler_address, progress=False,
                       say=lambda text: None)
    assert [o.status for o in result.outcomes] == ["complete"] * 4
    task = sweep.tasks[3]
    assert task.name == "n=200_r1" and "particles.seed=12" in task.overrides
    case = load_case(sweep.case.resolve(), task.overrides)
    run_particles_file(case, tmp_path / "direct.h5", replicates=3, workers=1, progress=False,
                       overrides=task.overrides)
    assert_same_result(sweep.target(tmp_path / "out", task), tmp_path / "direct.h5")

    # the --scheduler path of particles and compare: segments as Dask tasks
    with distributed.Client(cluster.scheduler_address) as client:
        pool = DaskPool(client)
        assert pool.slots == 2
        run_particles_file(case, tmp_path / "dask.h5", replicates=3, progress=False, pool=pool,
                           overrides=task.overrides)
        small = load_case(BASE, ("time.t_end=0.2",))
        compare_into(small, (20, 40), 3, tmp_path / "dask_report", pool=pool, progress=False)
    compare_into(small, (20, 40), 3, tmp_path / "here_report", workers=1, progress=False)
    # the checkpoint has a slot per replicate in flight: 2 on the cluster, 1 here
    assert_same_result(tmp_path / "dask.h5", tmp_path / "direct.h5", ignore=("checkpoint", "summary@workers"))
    reports = [json.loads((tmp_path / f"{kind}_report" / "report.json").read_text()) for kind in ("dask", "here")]
    for report in reports:
        report.pop("seconds_per_n")
    assert reports[0] == reports[1]


def _start_cli(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pdesolve", "sweep", *args], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_partial(folder: Path, timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(".*.partial")) if folder.is_dir() else []
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no task started writing in {folder}")


SLOW_SWEEP = '''set = ["time.t_end = 1.5", "grid.cells = 2000", "output.checkpoint_steps = 100",
       "time.outputs = 3"]
[product]
"dynamics.alpha" = [0.5, 1.0]
'''


def _resumed_tasks_equal_direct_runs(sweep_path: Path, folder: Path, tmp_path: Path) -> None:
    """Each task that was resumed from a checkpoint ended as an uninterrupted run; no
    temporary file is left."""
    sweep = load_sweep(sweep_path)
    resumed = xarray.open_dataset(folder / "sweep.nc").resumed.values
    assert resumed.sum() >= 1
    for task in sweep.tasks:
        if not resumed[task.index]:
            continue
        direct = tmp_path / f"direct_{task.name}.h5"
        run_case(load_case(sweep.case.resolve(), task.overrides), direct, progress=False,
                 overrides=task.overrides)
        assert_same_result(sweep.target(folder, task), direct)
    assert not list(folder.glob(".*")), "temporary files left behind"


def test_a_worker_killed_mid_task_is_replaced_and_its_task_resumed(tmp_path):
    path = write_sweep(tmp_path, SLOW_SWEEP)
    run = _start_cli(tmp_path, str(path), "-o", "out", "--workers", "2", "-q")
    partial = _wait_for_partial(tmp_path / "out")
    pid = int(partial.name.split(".")[-2])
    time.sleep(0.3)
    os.kill(pid, signal.SIGKILL)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    table = xarray.open_dataset(tmp_path / "out" / "sweep.nc")
    assert list(table.status.values) == ["complete", "complete"]
    killed = [t.name for t in load_sweep(path).tasks].index(partial.name[1:].split(".h5")[0])
    assert table.resumed.values[killed] == 1, "the task was rerun instead of resumed"
    _resumed_tasks_equal_direct_runs(path, tmp_path / "out", tmp_path)


def test_sigint_stops_the_sweep_cleanly_and_resume_finishes_it(tmp_path):
    path = write_sweep(tmp_path, SLOW_SWEEP.replace("[0.5, 1.0]", "[0.5, 1.0, 2.0]"))
    run = _start_cli(tmp_path, str(path), "-o", "out", "--workers", "2")
    _wait_for_partial(tmp_path / "out")
    time.sleep(0.3)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert f"-m pdesolve sweep {path} -o out --resume --workers 2" in err and "resume with: " in err
    table = xarray.open_dataset(tmp_path / "out" / "sweep.nc")
    assert "interrupted" in set(table.status.values)
    assert set(table.status.values) <= {"complete", "interrupted", "pending"}
    done = subprocess.run([sys.executable, "-m", "pdesolve", "sweep", str(path), "-o", "out", "--resume",
                           "--workers", "2", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    table = xarray.open_dataset(tmp_path / "out" / "sweep.nc")
    assert list(table.status.values) == ["complete"] * 3
    _resumed_tasks_equal_direct_runs(path, tmp_path / "out", tmp_path)


def test_errors_of_a_lost_dask_worker_count_as_lost_workers_not_as_a_failed_replicate():
    from concurrent.futures import CancelledError
    from concurrent.futures.process import BrokenProcessPool

    from pdesolve.drive.particle_run import workers_lost
    killed = distributed.KilledWorker("pdesolve-task", "tcp://127.0.0.1:1", 3)
    assert all(workers_lost(err) for err in (killed, BrokenProcessPool("gone"), CancelledError()))
    assert not any(workers_lost(err) for err in (ValueError("bad"), RuntimeError("NaN"), OSError("disk")))
