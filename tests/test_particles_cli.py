"""`pdesolve particles`: the HDF5 file, reproducibility, parallel replicates, bad input,
interruption and bit-for-bit resume, and agreement with the exact Gaussian solution."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesolve.config.case import load_case
from pdesolve.cli import main
from pdesolve.analysis.exact import GaussianFlow
from pdesolve.io.particle_result import OBSERVABLES, read_particles
from pdesolve.drive.particle_run import run_particles

CASE = Path(__file__).parent.parent / "cases" / "gaussian_1d.toml"
SHORT = ("--set", "time.t_end=0.2", "--set", "time.outputs=2")
# long enough to interrupt: 3 replicates of 5000 steps each
LONG = ("--n", "300", "--replicates", "3", "--seed", "4", "--set", "time.dt=2e-4",
        "--set", "time.outputs=4")


def particles(*args) -> int:
    return main(["particles", str(CASE), *map(str, args)])


def assert_same_observables(result, expected):
    assert np.array_equal(result.times, expected.times)
    for name in OBSERVABLES:
        assert np.array_equal(getattr(result, name), getattr(expected, name)), name  # bit for bit


def test_file_has_every_observable_with_its_shape(tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert particles("--n", 50, "--replicates", 3, "--seed", 1, "--workers", 1, "--positions",
                     *SHORT, "-o", out) == 0
    line, = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("finished 3 replicates of n = 50 particles") and line.endswith(f"-> {out}")
    result = read_particles(out)
    assert np.allclose(result.times, [0.0, 0.1, 0.2])
    assert result.mass.shape == result.energy.shape == (3, 3)
    assert result.mean.shape == (3, 3, 1) and result.covariance.shape == (3, 3, 1, 1)
    assert result.histogram.shape == (3, 3, 400) and result.positions.shape == (3, 3, 50, 1)
    assert np.array_equal(result.outputs_done, [3, 3, 3])
    np.testing.assert_allclose(result.mass, 1.0, rtol=1e-14)               # balanced: M = 1
    np.testing.assert_allclose(result.histogram.sum(axis=-1) * 10.0 / 400, 1.0, rtol=1e-12)
    np.testing.assert_allclose(result.positions.mean(axis=2), result.mean, rtol=1e-12)
    np.testing.assert_allclose(result.positions.var(axis=2), result.covariance[..., 0], rtol=1e-10)
    assert np.all(result.mean[:, 0, 0] > 0.8) and np.all(result.mean[:, -1, 0] < result.mean[:, 0, 0])
    assert result.attrs["status"] == "complete" and result.attrs["case_text"] == CASE.read_text()
    assert result.attrs["overrides"] == list(SHORT[1::2])
    assert (result.attrs["n"], result.attrs["replicates"], result.attrs["seed"]) == (50, 3, 1)
    assert result.attrs["pdesolve_version"] and result.summary["dt"] > 0
    assert result.summary["steps"] >= 3 * 0.2 / result.summary["dt"] - 1e-9   # dt: largest step
    assert not list(tmp_path.glob(".*"))                                     # no temporary left


def test_same_seed_same_file_whatever_the_workers(tmp_path):
    runs = {}
    for name, extra in (("one", ("--workers", 1)), ("again", ("--workers", 1)), ("two", ("--workers", 2)),
                        ("other", ("--workers", 1, "--seed", 8))):
        out = tmp_path / f"{name}.h5"
        seed = () if "--seed" in extra else ("--seed", 7)
        assert particles("--n", 40, "--replicates", 3, *seed, *extra, "--positions", "--quiet",
                         *SHORT, "-o", out) == 0
        runs[name] = read_particles(out)
    for name in ("again", "two"):
        assert_same_observables(runs[name], runs["one"])
        assert np.array_equal(runs[name].positions, runs["one"].positions)
    assert not np.array_equal(runs["other"].mean, runs["one"].mean)
    # the file holds what run_particles computes in memory
    memory = run_particles(load_case(CASE, SHORT[1::2]), n=40, replicates=3, seed=7, workers=1)
    for name in OBSERVABLES:
        assert np.array_equal(memory[name], getattr(runs["one"], name)), name


@pytest.mark.parametrize("args, message", [
    (("--n", 0), "--n: 0 is out of range"),
    (("--n", "many"), "--n: expected an integer"),
    (("--workers", 0), "--workers: 0 is out of range"),
    (("--seed", -1), "--seed: -1 is out of range"),
    (("--set", "grid.cels=40"), "grid.cels: unknown key, did you mean 'cells'?"),
    (("--set", "particles.interaction=pairs"), "particles.interaction"),
    (("--resume", "nothing.h5"), "no such result"),
])
def test_bad_input_is_one_line_and_exit_two(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert particles(*args, "--quiet", "-o", tmp_path / "out.h5") == 2
    captured = capsys.readouterr()
    line, = captured.err.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert list(tmp_path.iterdir()) == []


def test_missing_case_file(tmp_path, capsys):
    assert main(["particles", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'nope.toml'}: file: no such file"


def test_existing_output_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "run.h5"
    assert particles("--n", 10, "--workers", 1, "--quiet", *SHORT, "-o", out) == 0
    before = out.read_bytes()
    assert particles("--n", 20, "--workers", 1, *SHORT, "-o", out) == 2
    assert capsys.readouterr().err.strip() == f"error: {out} already exists; use --force to overwrite it"
    assert out.read_bytes() == before
    assert particles("--n", 20, "--workers", 1, "--quiet", "--force", *SHORT, "-o", out) == 0
    assert read_particles(out).mean.shape == (1, 3, 1)
    text = tmp_path / "notes.h5"
    text.write_bytes(b"precious")
    assert particles("--n", 20, "--workers", 1, "--force", *SHORT, "-o", text) == 2
    assert "is not an HDF5 result" in capsys.readouterr().err and text.read_bytes() == b"precious"


def test_mean_at_final_time_matches_the_exact_gaussian(tmp_path):
    """gaussian_1d to t = 1: the replicate average of the particle mean is within 4 standard
    errors (spread over replicates) of m(1) = m0 p0 e^t / p(t) = 0.331996."""
    out = tmp_path / "run.h5"
    assert particles("--n", 1000, "--replicates", 8, "--seed", 3, "--workers", 2, "--quiet",
                     "--set", "time.outputs=2", "-o", out) == 0
    final = read_particles(out).mean[:, -1, 0]
    exact = GaussianFlow(a=1.0, m0=(1.0,), s0=0.5, alpha=1.0, reaction="balanced").state(1.0).mean[0]
    assert exact == pytest.approx(0.331996, abs=1e-6)
    standard_error = final.std(ddof=1) / np.sqrt(final.size)
    assert abs(final.mean() - exact) < 4 * standard_error
    assert standard_error < 0.01


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the LONG configuration."""
    out = tmp_path_factory.mktemp("reference") / "ref.h5"
    assert particles(*LONG, "--workers", 1, "--quiet", "-o", out) == 0
    return read_particles(out)


def first_replicate_finished(out: Path) -> bool:
    """Whether the partial file beside ``out`` records replicate 0 as finished."""
    for partial in out.parent.glob(f".{out.name}.*.partial"):
        try:
            with h5py.File(partial, "r", swmr=True) as f:
                return bool(f["checkpoint/finished"][0])
        except (OSError, KeyError):
            return False
    return False


def start_past_first_replicate(out: Path, workers: int) -> subprocess.Popen:
    """``pdesolve particles`` of the LONG configuration into ``out``, returned once its
    replicate 0 is finished in the checkpoint."""
    process = subprocess.Popen([sys.executable, "-m", "pdesolve.cli", "particles", str(CASE), *LONG,
                                "--workers", str(workers), "--quiet", "-o", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not first_replicate_finished(out):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return process


@pytest.mark.parametrize("signum, code, workers", [(signal.SIGINT, 130, 1), (signal.SIGTERM, 143, 2)])
def test_signal_checkpoints_and_resume_is_bit_for_bit(reference, tmp_path, capsys, signum, code, workers):
    out = tmp_path / "run.h5"
    process = start_past_first_replicate(out, workers)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr and f"--resume {out}" in stderr
    assert "of 3 replicates finished" in stderr
    interrupted = read_particles(out, allow_incomplete=True)
    assert interrupted.attrs["status"] == "interrupted"
    # replicate 0 had finished when the signal was sent; replicate 2 starts only after
    # replicate 0 (with 1 or 2 workers) and takes as long, so it cannot have finished
    assert interrupted.outputs_done[0] == 5 and interrupted.outputs_done[2] < 5
    assert not list(tmp_path.glob(".*"))
    # a different run cannot take it over
    assert particles(*LONG, "--set", "dynamics.alpha=2.0", "--resume", out) == 2
    assert (f"{out} was started with --set time.dt=2e-4 --set time.outputs=4, not with --set "
            "time.dt=2e-4 --set time.outputs=4 --set dynamics.alpha=2.0") in capsys.readouterr().err
    assert particles("--n", 301, *LONG[2:], "--resume", out) == 2
    assert "was started with n = 300, not 301" in capsys.readouterr().err
    # the same overrides in another order set the same case
    assert particles("--set", "time.outputs=4", "--set", "time.dt=2e-4", "--workers", 3 - workers,
                     "--quiet", "--resume", out) == 0
    resumed = read_particles(out)
    assert_same_observables(resumed, reference)
    assert resumed.summary["steps"] == 15000
    assert particles(*LONG[6:], "--resume", out) == 2
    assert "already complete" in capsys.readouterr().err


def test_a_lost_worker_process_keeps_the_checkpoint_and_resume_ends_bit_for_bit(reference, tmp_path, capsys):
    """A pool worker killed mid-run breaks the pool: exit 1 with the resume command, the file
    kept (status interrupted, the finished replicate in it), and --resume ends as the reference."""
    out = tmp_path / "run.h5"
    process = start_past_first_replicate(out, 2)
    children = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "spawn_main"], capture_output=True,
                              text=True).stdout.split()
    workers = [int(pid) for pid in children
               if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    assert workers, "no pool worker found"
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "the worker processes were lost (BrokenProcessPool)" in stderr
    assert f"continue with --resume {out}" in stderr
    kept = read_particles(out, allow_incomplete=True)
    assert kept.attrs["status"] == "interrupted" and kept.outputs_done[0] == 5
    assert particles(*LONG, "--workers", 1, "--quiet", "--resume", out) == 0
    assert_same_observables(read_particles(out), reference)
