"""Hostile command lines: every mistaken or hostile argument, override, output path and
result file gets one line ``error: …`` and exit 2 before any work starts, and leaves the
working directory and the case file as they were."""
import contextlib
import io
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pdesolve.cli import main
from pdesolve.io.grid_result import ResultWriter
from pdesolve.model.grid import Grid

ROOT = Path(__file__).resolve().parents[1]
CASE_TEXT = (ROOT / "cases" / "gaussian_1d.toml").read_text()

COUNTS = ["", "-1", "1.5", "nan", "inf", "abc", "1e3", "10**3", "0x10", "1,2"]
BAD_OVERRIDES = ["nokey", "=1", "grid.cells=[0]", "time.t_end=-1", "unknown.key=1", "grid.cells=[1e300]",
                 "time.outputs=1000000000", "initial.std=1e-300", "time.dt=1e-300", "grid.lower=" + "[" * 3000,
                 "grid.lower=" + "[" * 3000 + "]" * 3000, "time.cfl=2", "initial.kind=nothing",
                 "output.compression=10", "scheme.backend=cuda", "dynamics.alpha=nan", "title=[1]",
                 "grid.cells=[100000000000]", "potential.kind=expression", "initial.mean=[1e300]"]
GOOD_OVERRIDES = ["time.t_end=0.5", "time.outputs=3", "grid.cells=[64]"]
OUTPUTS = ["DIR", "", "CASE", "/proc/version", "/dev/null", "TEXT", "/proc/pdesolve/x.h5", "DIR/"]
RESULTS = ["MISSING", "DIR", "TEXT", "CUT", "CASE", ""]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with the case, a directory, a text file and a truncated result."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "case.toml").write_text(CASE_TEXT)
    (folder / "dir").mkdir()
    (folder / "notes.txt").write_text("not a result\n")
    grid = Grid((0.0,), (1.0,), (16,), (False,))
    writer = ResultWriter(folder / "full.h5", grid, case_text=CASE_TEXT, case_source="case.toml", attrs={})
    writer.add_snapshot(0.0, np.ones(16), np.ones(16))
    writer.add_diagnostics({"t": 0.0})
    writer.write_checkpoint(np.ones(16), t=0.0, steps=0.0, conserved_mass=1.0, snapshots=1.0,
                            next_output=1.0, last_dt=0.0)
    whole = writer.suspend().read_bytes()
    (folder / "cut.h5").write_bytes(whole[: len(whole) // 2])
    (folder / "full.h5").unlink()
    return folder


def _path(name: str, folder: Path) -> str:
    return {"DIR": str(folder / "dir"), "DIR/": str(folder / "dir") + "/", "CASE": str(folder / "case.toml"),
            "TEXT": str(folder / "notes.txt"), "CUT": str(folder / "cut.h5"),
            "MISSING": str(folder / "missing.h5")}.get(name, name)


@st.composite
def hostile_command_lines(draw):
    """(argv with placeholders, what makes it wrong): one to three wrong parts, maybe mixed
    with right ones, for one of the four commands."""
    command = draw(st.sampled_from(["run", "particles", "compare", "plot"]))
    if command == "plot":
        argv = ["plot", draw(st.sampled_from(RESULTS))]
        if draw(st.booleans()):
            argv += ["-o", draw(st.sampled_from(["CASE", "TEXT", "/proc/version", "/proc/pdesolve/x"]))]
        return argv
    argv = [command, "CASE"]
    wrong = []
    options = {"run": ["set", "output", "resume"],
               "particles": ["set", "output", "resume", "--n", "--replicates", "--seed", "--workers"],
               "compare": ["set", "output", "--n", "--replicates", "--seed", "--workers", "--dt"]}[command]
    for option in draw(st.lists(st.sampled_from(options), min_size=1, max_size=3, unique=True)):
        if option == "set":
            wrong += ["--set", draw(st.sampled_from(BAD_OVERRIDES))]
        elif option == "output":
            wrong += ["-o", draw(st.sampled_from(OUTPUTS if command != "compare" else
                                                 ["", "CASE", "TEXT", "/proc/version", "/proc/pdesolve/x",
                                                  "/dev/null"]))]
        elif option == "resume":
            wrong += ["--resume", draw(st.sampled_from(RESULTS))]
        elif option == "--dt":
            wrong += ["--dt", draw(st.sampled_from(["0", "-1", "inf", "nan", "1e300", "abc", ""]))]
        elif option == "--n" and command == "compare":
            wrong += ["--n", draw(st.sampled_from(["10", "10,5", "0,10", "10,1e3", "10,1000000000000", ",", "a,b"]))]
        elif option == "--replicates" and command == "compare":
            wrong += ["--replicates", draw(st.sampled_from(COUNTS + ["1", "100000000"]))]
        elif option == "--seed":
            wrong += [option, draw(st.sampled_from(["", "-1", "1.5", "nan", "abc", "1e3"]))]
        else:
            wrong += [option, draw(st.sampled_from(COUNTS + (["0", "1000000000000"] if option == "--n" else ["0"])))]
    right = draw(st.lists(st.sampled_from(GOOD_OVERRIDES), max_size=2, unique=True))
    extras = [item for override in right for item in ("--set", override)]
    if draw(st.booleans()):
        extras.append("--force")
    extras.append("--quiet")
    return argv + extras + wrong   # right overrides first: a later --set of the same key wins


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=hostile_command_lines())
def test_a_hostile_command_line_is_one_line_and_exit_2_before_any_work(workspace, monkeypatch, argv):
    argv = [_path(item, workspace) for item in argv]
    monkeypatch.chdir(workspace)
    before = {p.name: p.stat().st_mtime_ns for p in workspace.iterdir()}
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exit_:   # argparse: an empty --n and the like are still strings
            code = exit_.code
    lines = stderr.getvalue().splitlines()
    assert code == 2, (argv, lines)
    assert "Traceback" not in stderr.getvalue()
    assert len(lines) == 1 and lines[0].startswith("error: "), (argv, lines)
    assert {p.name: p.stat().st_mtime_ns for p in workspace.iterdir()} == before, argv
    assert (workspace / "case.toml").read_text() == CASE_TEXT


def test_particles_resume_of_a_truncated_file_names_the_file(workspace, capsys):
    cut = workspace / "cut.h5"
    assert main(["particles", str(workspace / "case.toml"), "--resume", str(cut)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and re.fullmatch(rf"error: {re.escape(str(cut))}: truncated HDF5 file "
                                            rf"\({cut.stat().st_size} of its \d+ bytes\); nothing to resume",
                                            lines[0]), lines


def test_compare_refuses_a_step_longer_than_the_run(workspace, capsys):
    assert main(["compare", str(workspace / "case.toml"), "--dt", "1e300", "-o", str(workspace / "r")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: --dt: 1e300 is longer than the run (time.t_end = 1)"]


@pytest.mark.parametrize("argv, message", [
    (["particles", "--n", "1000000000000"], "1 replicate of n = 1000000000000 particles (1 at a time) need about"),
    (["compare", "--n", "10,1000000000000"], "20 replicates of n = 1000000000000 particles"),
    (["compare", "--replicates", "100000000"], "100000000 replicates of n = 10000 particles"),
])
def test_particle_memory_is_estimated_before_any_work(workspace, capsys, argv, message):
    command, *options = argv
    assert main([command, str(workspace / "case.toml"), *options, "-o", str(workspace / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err and "GiB is available" in err
    assert not (workspace / "out").exists()


def test_the_memory_estimate_respects_ulimit_v(tmp_path):
    """A 200,000,000-cell 1-D grid (about 12 GiB) fits the machine but not a 4 GiB address
    space: refused with one line instead of dying half-way with "Aborted"."""
    limit = 4 * 1024 ** 3

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "pdesolve.cli", "run", str(ROOT / "cases" / "gaussian_1d.toml"),
                           "--set", "grid.cells=[200000000]", "-o", str(tmp_path / "big.h5")],
                          capture_output=True, text=True, timeout=120, preexec_fn=limited,
                          env={**os.environ, "NUMBA_NUM_THREADS": "1"})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "grid.cells: the run needs about 11.92 GiB of memory" in lines[0], lines
    assert not list(tmp_path.iterdir())


def test_no_numpy_warning_precedes_the_one_line_error(tmp_path):
    """std = 1e-300 overflows the Gaussian's exponent: the run must say so in one line, with
    no RuntimeWarning lines before it (pytest would swallow them in-process)."""
    done = subprocess.run([sys.executable, "-m", "pdesolve.cli", "run", str(ROOT / "cases" / "birth_death_2d.toml"),
                           "--set", "initial.std=1e-300", "-o", str(tmp_path / "r.h5")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {ROOT / 'cases' / 'birth_death_2d.toml'}: initial: Gaussian with mean [1.0, 1.0], std "
        "[1e-300, 1e-300] integrates to 0.0 over the grid; cannot normalise it"]
