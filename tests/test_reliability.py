"""Interrupted and killed runs: the file survives, and --resume finishes bit for bit."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pdesolve.output import read_result

CASE = """title = "interruptible"
[grid]
lower = [-3.0, -3.0]
upper = [3.0, 3.0]
cells = [112, 112]
[potential]
kind = "quadratic"
[interaction]
kind = "gaussian"
width = 0.5
strength = -0.5
[dynamics]
reaction = "balanced"
alpha = 1.0
[initial]
mean = [0.5, -0.3]
std = 0.6
[time]
t_end = 1.0
outputs = 8
[output]
checkpoint_steps = 7
"""


def command(case, *args):
    return [sys.executable, "-m", "pdesolve.cli", "run", str(case), "--quiet", *map(str, args)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of CASE."""
    folder = tmp_path_factory.mktemp("reference")
    case = folder / "case.toml"
    case.write_text(CASE)
    out = folder / "ref.h5"
    done = subprocess.run(command(case, "-o", out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return case, read_result(out)


def start_and_signal(case, out, signum, delay):
    """Start a run, wait until it has written its first snapshot plus ``delay`` s, signal it."""
    process = subprocess.Popen(command(case, "-o", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 120
    while not list(out.parent.glob(f".{out.name}.*.partial")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(delay)
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def assert_same_run(result, expected):
    assert np.array_equal(result.times, expected.times)
    assert np.array_equal(result.mu, expected.mu)  # bit for bit
    assert np.array_equal(result.V, expected.V)
    assert result.diagnostics.keys() == expected.diagnostics.keys()
    for name, values in expected.diagnostics.items():
        assert np.array_equal(result.diagnostics[name], values), name
    assert result.summary["steps"] == expected.summary["steps"]


@pytest.mark.parametrize("signum, code, delay", [(signal.SIGINT, 130, 0.1), (signal.SIGINT, 130, 0.8),
                                                 (signal.SIGTERM, 143, 0.4)])
def test_signal_checkpoints_and_resume_is_bit_for_bit(reference, tmp_path, signum, code, delay):
    case, expected = reference
    out = tmp_path / "run.h5"
    returncode, stderr = start_and_signal(case, out, signum, delay)
    assert returncode == code, stderr
    assert f"--resume {out}" in stderr and "Traceback" not in stderr
    with h5py.File(out) as f:
        assert f.attrs["status"] == "interrupted"
        stopped_at = f["checkpoint/t"][()]
    assert 0 < stopped_at < 1.0
    assert not list(tmp_path.glob(".*partial"))
    done = subprocess.run(command(case, "--resume", out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_run(read_result(out), expected)


@pytest.mark.parametrize("delay", [0.05, 0.5, 1.0])
def test_hard_kill_leaves_a_readable_file_that_resumes(reference, tmp_path, delay):
    case, expected = reference
    out = tmp_path / "run.h5"
    returncode, _ = start_and_signal(case, out, signal.SIGKILL, delay)
    assert returncode == -signal.SIGKILL
    partial, = tmp_path.glob(f".{out.name}.*.partial")
    with h5py.File(partial, "r", swmr=True) as f:  # readable after kill -9
        written = f["snapshots/time"].shape[0]
        assert written >= 1
        assert np.array_equal(f["snapshots/mu"][:written], expected.mu[:written])
        assert 1 <= f["checkpoint/snapshots"][()] <= written
    assert not out.exists()
    done = subprocess.run(command(case, "--resume", out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_run(read_result(out), expected)
    assert not list(tmp_path.glob(".*partial"))


def test_resume_refuses_a_different_case_or_a_complete_run(reference, tmp_path):
    case, _ = reference
    out = tmp_path / "run.h5"
    returncode, _ = start_and_signal(case, out, signal.SIGINT, 0.1)
    assert returncode == 130
    changed = tmp_path / "changed.toml"
    changed.write_text(CASE.replace("alpha = 1.0", "alpha = 2.0"))
    done = subprocess.run(command(changed, "--resume", out), capture_output=True, text=True)
    assert done.returncode == 2 and "different case file" in done.stderr
    done = subprocess.run(command(case, "--set", "dynamics.alpha=2.0", "--resume", out),
                          capture_output=True, text=True)
    assert done.returncode == 2 and "different case file or --set overrides" in done.stderr
    assert subprocess.run(command(case, "--resume", out), capture_output=True).returncode == 0
    done = subprocess.run(command(case, "--resume", out), capture_output=True, text=True)
    assert done.returncode == 2 and "already complete" in done.stderr
    done = subprocess.run(command(case, "--resume", tmp_path / "nothing.h5"), capture_output=True, text=True)
    assert done.returncode == 2 and "no such result" in done.stderr


def test_two_runs_at_once_share_the_numba_cache(tmp_path):
    case = tmp_path / "case.toml"
    case.write_text(CASE.replace("t_end = 1.0", "t_end = 0.1"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    runs = [subprocess.Popen(command(case, "-o", tmp_path / f"run{i}.h5"), env=env,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]
    for process in runs:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    first, second = (read_result(tmp_path / f"run{i}.h5") for i in range(2))
    assert np.array_equal(first.mu, second.mu)
    assert Path(tmp_path / "numba-cache").is_dir()
