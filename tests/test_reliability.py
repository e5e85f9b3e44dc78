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

from pdesolve.io.grid_result import read_checkpoint, read_result

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


def partial_state(out):
    """What the run's hidden partial file holds now (read in SWMR mode), or None before
    it exists or while it cannot be read: {"snapshots": n, "checkpoint": {...}, "times": [...]}."""
    partials = list(out.parent.glob(f".{out.name}.*.partial"))
    if not partials:
        return None
    try:
        with h5py.File(partials[0], "r", swmr=True) as f:
            checkpoint = read_checkpoint(f)
            if checkpoint is None:
                return None
            return {"snapshots": f["snapshots/time"].shape[0], "times": f["snapshots/time"][:].tolist(),
                    "checkpoint": checkpoint}
    except (OSError, KeyError):   # renamed, or caught between two writes
        return None


def start_and_signal(case, out, signum, ready, timeout=120):
    """Start a run and send ``signum`` once its partial file shows ``ready(state)``.

    The run is synchronised on what it has written, never on a delay: the file is polled,
    the run is frozen (SIGSTOP) when ``ready`` holds, ``ready`` is checked again on the
    frozen file (the run may have moved on between the two reads; then it continues and
    the wait goes on), and the signal is sent to the frozen run, which then resumes.
    Returns (exit code, stderr, the state the signal was sent in)."""
    process = subprocess.Popen(command(case, "-o", out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert process.poll() is None, ("the run ended before it could be signalled",
                                            process.communicate())
            assert time.monotonic() < deadline, "the run never reached the state to signal it in"
            state = partial_state(out)
            if state is not None and ready(state):
                process.send_signal(signal.SIGSTOP)
                state = partial_state(out)
                if state is not None and ready(state):
                    break
                process.send_signal(signal.SIGCONT)
            time.sleep(0.005)
        process.send_signal(signum)
        process.send_signal(signal.SIGCONT)
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr, state


def assert_same_run(result, expected):
    assert np.array_equal(result.times, expected.times)
    assert np.array_equal(result.mu, expected.mu)  # bit for bit
    assert np.array_equal(result.V, expected.V)
    assert result.diagnostics.keys() == expected.diagnostics.keys()
    for name, values in expected.diagnostics.items():
        assert np.array_equal(result.diagnostics[name], values, equal_nan=True), name   # l1_change: NaN between snapshots
    assert result.summary["steps"] == expected.summary["steps"]


def after_snapshots(count):
    return lambda state: state["snapshots"] >= count


@pytest.mark.parametrize("signum, code, snapshots", [(signal.SIGINT, 130, 1), (signal.SIGINT, 130, 5),
                                                     (signal.SIGTERM, 143, 3)])
def test_signal_checkpoints_and_resume_is_bit_for_bit(reference, tmp_path, signum, code, snapshots):
    case, expected = reference
    out = tmp_path / "run.h5"
    returncode, stderr, seen = start_and_signal(case, out, signum, after_snapshots(snapshots))
    assert returncode == code, stderr
    assert f"--resume {out}" in stderr and "Traceback" not in stderr
    with h5py.File(out) as f:
        assert f.attrs["status"] == "interrupted"
        stopped_at = read_checkpoint(f)["t"]
        assert read_checkpoint(f)["steps"] >= seen["checkpoint"]["steps"]
    assert seen["times"][-1] <= stopped_at < 1.0
    assert not list(tmp_path.glob(".*partial"))
    done = subprocess.run(command(case, "--resume", out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_run(read_result(out), expected)


OUTPUT_TIMES = np.linspace(0.0, 1.0, 9)


def is_output_checkpoint(state):
    """The last checkpoint is the one written with snapshot k ≥ 2: at its time, covering it."""
    ckpt = state["checkpoint"]
    return (ckpt["snapshots"] >= 3 and ckpt["next_output"] == ckpt["snapshots"]
            and ckpt["t"] == OUTPUT_TIMES[int(ckpt["snapshots"]) - 1])


def is_between_outputs(state):
    """The last checkpoint was written between two snapshots (by steps or by wall time)."""
    ckpt = state["checkpoint"]
    return ckpt["snapshots"] >= 2 and ckpt["t"] not in OUTPUT_TIMES


def is_initial_checkpoint(state):
    return state["checkpoint"]["steps"] == 0 and state["snapshots"] == 1


@pytest.mark.parametrize("settings, ready", [
    ("checkpoint_steps = 0\ncheckpoint_seconds = 0", is_initial_checkpoint),
    ("checkpoint_steps = 0\ncheckpoint_seconds = 0", is_output_checkpoint),
    ("checkpoint_steps = 7\ncheckpoint_seconds = 0", is_between_outputs),
    ("checkpoint_steps = 0\ncheckpoint_seconds = 0.05", is_between_outputs),
], ids=["initial", "output", "steps", "seconds"])
def test_hard_kill_resumes_from_every_kind_of_checkpoint(reference, tmp_path, settings, ready):
    """kill -9 when the last checkpoint is of each kind: the one written with the first
    snapshot, with a later snapshot, every N steps, every N seconds.  The partial file
    opens, holds the snapshots written so far, and --resume finishes bit for bit (the
    checkpoint settings change nothing in the numbers, so the reference run is the same)."""
    case, expected = reference
    case_here = tmp_path / "case.toml"
    case_here.write_text(case.read_text().replace("checkpoint_steps = 7", settings))
    out = tmp_path / "run.h5"
    returncode, _, seen = start_and_signal(case_here, out, signal.SIGKILL, ready)
    assert returncode == -signal.SIGKILL
    partial, = tmp_path.glob(f".{out.name}.*.partial")
    with h5py.File(partial, "r", swmr=True) as f:  # readable after kill -9
        written = f["snapshots/time"].shape[0]
        assert written >= seen["snapshots"]
        assert np.array_equal(f["snapshots/mu"][:written], expected.mu[:written])
        assert ready({"snapshots": written, "checkpoint": read_checkpoint(f)})
    assert not out.exists()
    done = subprocess.run(command(case_here, "--resume", out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_run(read_result(out), expected)
    assert not list(tmp_path.glob(".*partial"))


def test_resume_refuses_a_different_case_or_a_complete_run(reference, tmp_path):
    case, _ = reference
    out = tmp_path / "run.h5"
    returncode, _, _ = start_and_signal(case, out, signal.SIGINT, after_snapshots(1))
    assert returncode == 130
    changed = tmp_path / "changed.toml"
    changed.write_text(CASE.replace("alpha = 1.0", "alpha = 2.0"))
    done = subprocess.run(command(changed, "--resume", out), capture_output=True, text=True)
    line = CASE.splitlines().index("alpha = 1.0") + 1
    assert done.returncode == 2 and done.stderr.splitlines() == [
        f"error: {changed}: --resume: {out} was started from a different case file: line {line} is "
        "'alpha = 1.0' there, 'alpha = 2.0' here"]
    done = subprocess.run(command(case, "--set", "dynamics.alpha=2.0", "--resume", out),
                          capture_output=True, text=True)
    assert done.returncode == 2 and (f"{out} was started with no --set overrides, not with "
                                     "--set dynamics.alpha=2.0") in done.stderr
    assert subprocess.run(command(case, "--resume", out), capture_output=True).returncode == 0
    done = subprocess.run(command(case, "--resume", out), capture_output=True, text=True)
    assert done.returncode == 2 and "already complete" in done.stderr
    done = subprocess.run(command(case, "--resume", tmp_path / "nothing.h5"), capture_output=True, text=True)
    assert done.returncode == 2 and "no such result" in done.stderr


def test_two_runs_at_once_share_the_numba_cache(tmp_path):
    """Two processes compile the same kernels into one empty cache at once and both run.
    Without transport the case compiles the reaction and reduction kernels only (6 cache
    entries, about 7 s cold): the transport kernels take a minute and test nothing more."""
    case = tmp_path / "case.toml"
    case.write_text(CASE.replace("t_end = 1.0", "t_end = 0.1").replace("alpha = 1.0", "alpha = 1.0\ntransport = false"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    runs = [subprocess.Popen(command(case, "-o", tmp_path / f"run{i}.h5"), env=env,
                             stderr=subprocess.PIPE, text=True) for i in range(2)]
    for process in runs:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    first, second = (read_result(tmp_path / f"run{i}.h5") for i in range(2))
    assert np.array_equal(first.mu, second.mu)
    assert Path(tmp_path / "numba-cache").is_dir()
    assert len(list((tmp_path / "numba-cache").rglob("*.nbi"))) >= 5   # the kernels were cached
