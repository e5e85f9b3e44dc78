"""The command line as a user meets it: run, plot, bad input, every shipped case."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdesolve.config.case import load_case
from pdesolve.cli import main
from pdesolve.io.grid_result import read_result

CASES = sorted((Path(__file__).parent.parent / "cases").glob("*.toml"))

TINY = """title = "tiny"
[grid]
lower = [-3.0]
upper = [3.0]
cells = [60]
[potential]
kind = "quadratic"
[dynamics]
reaction = "balanced"
alpha = 1.0
[initial]
mean = 0.5
std = 0.5
[time]
t_end = 0.2
outputs = 4
"""


def cli(*args, cwd=None):
    """Run the real console entry point in a subprocess."""
    return subprocess.run([sys.executable, "-m", "pdesolve.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture
def tiny_case(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_run_then_plot(tiny_case, tmp_path):
    out = tmp_path / "res" / "tiny.h5"
    done = cli("run", tiny_case, "-o", out)
    assert done.returncode == 0, done.stderr
    assert f"result  {out}" in done.stdout and "relative drift" in done.stdout
    result = read_result(out)
    assert np.allclose(result.times, [0.0, 0.05, 0.1, 0.15, 0.2])
    assert result.mu.shape == (5, 60) and result.V.shape == (5, 60)
    mass = result.diagnostics["mass"]
    assert np.all(np.abs(mass - mass[0]) <= 1e-12 * mass[0])
    assert np.all(np.diff(result.diagnostics["energy"]) < 0)
    assert result.attrs["case_text"] == TINY
    assert result.summary["steps"] > 0
    plotted = cli("plot", out, "-o", tmp_path / "plots")
    assert plotted.returncode == 0, plotted.stderr
    for name in ("snapshots.png", "diagnostics.png", "potential.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_existing_output_is_refused_unless_forced(tiny_case, tmp_path):
    out = tmp_path / "tiny.h5"
    assert cli("run", tiny_case, "-o", out, "--quiet", "--set", "time.t_end=0.1").returncode == 0
    before = out.read_bytes()
    refused = cli("run", tiny_case, "-o", out)
    assert refused.returncode == 2
    assert refused.stderr.strip() == f"error: {out} already exists; use --force to overwrite it"
    assert out.read_bytes() == before
    forced = cli("run", tiny_case, "-o", out, "--force", "--quiet")
    assert forced.returncode == 0 and forced.stdout == ""
    assert read_result(out).mu.shape == (5, 60)


def _no_work_left(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("command", ["run", "particles"])
@pytest.mark.parametrize("target, message", [
    ("dir", "is a directory"),
    ("dir/", "is a directory"),
    ("", "is a directory"),
    ("case", "is the case file of this run"),
    ("text", "is not an HDF5 result"),
    ("/dev/null", "is not a regular file"),
    ("text/out.h5", "not a writable directory"),
])
def test_bad_output_targets_are_refused_before_any_work(tiny_case, tmp_path, command, target, message):
    """#12 defects 1 and 3: a directory, an empty name, the case file itself, a file that is
    not a result, a special file or a parent that is not a folder are refused at once, even
    with --force: one line, exit 2, nothing written, nothing overwritten."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "text").write_text("precious")
    paths = {"case": str(tiny_case), "": ""}
    output = paths.get(target, target if target.startswith("/") else str(tmp_path / target))
    if target == "dir/":
        output = str(tmp_path / "dir") + "/"
    done = cli(command, tiny_case, "-o", output, "--force", "--quiet", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert tiny_case.read_text() == TINY and (tmp_path / "text").read_text() == "precious"
    assert list((tmp_path / "dir").iterdir()) == []
    _no_work_left(tmp_path)


@pytest.mark.parametrize("target, message", [
    ("file", "exists and is not a directory"),
    (".", "holds the working directory or the case file"),
    ("other", "is not a report folder"),
])
def test_compare_refuses_bad_report_folders_before_any_work(tiny_case, tmp_path, target, message):
    (tmp_path / "file").write_text("precious")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep")
    done = cli("compare", tiny_case, "--n", "20,40", "--replicates", "2", "-o", target, "--force",
               cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert (tmp_path / "file").read_text() == "precious"
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep"
    _no_work_left(tmp_path)


def test_default_output_name_and_set_override(tiny_case, tmp_path):
    done = cli("run", tiny_case, "--quiet", "--set", "time.t_end=0.1", "--set", "grid.cells=[40]",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = read_result(tmp_path / "tiny.h5")
    assert result.mu.shape[1] == 40 and result.times[-1] == pytest.approx(0.1)


BAD_INPUT = {
    "unknown key": (TINY.replace("cells = [60]", "cels = [60]"), "grid.cels", "did you mean 'cells'"),
    "wrong type": (TINY.replace("t_end = 0.2", 't_end = "soon"'), "time.t_end", ""),
    "missing required key": (TINY.replace("t_end = 0.2\n", ""), "time.t_end", "missing"),
    "dimension 4": (TINY.replace("[-3.0]", "[-3.0, -3, -3, -3]").replace("[3.0]", "[3.0, 3, 3, 3]")
                    .replace("[60]", "[6, 6, 6, 6]"), "grid", ""),
    "negative cells": (TINY.replace("cells = [60]", "cells = [-60]"), "grid.cells", ""),
    "cfl zero": (TINY + "cfl = 0.0\n", "time.cfl", ""),
    "negative alpha": (TINY.replace("alpha = 1.0", "alpha = -1.0"), "dynamics.alpha", ""),
    "bounds reversed": (TINY.replace("upper = [3.0]", "upper = [-4.0]"), "grid.upper", ""),
    "unparsable toml": (TINY.replace("[time]", "[time"), "toml", ""),
    "unknown expression name": (TINY.replace('kind = "quadratic"', 'kind = "expression"\nexpr = "x**2 + foo"'),
                                "potential.expr", "foo"),
    "code in expression": (TINY.replace('kind = "quadratic"',
                                        'kind = "expression"\nexpr = "__import__(\'os\').system(\'touch HACKED\')"'),
                           "potential.expr", ""),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUT))
def test_bad_input_is_one_line_exit_two_and_no_file(name, tmp_path):
    text, key, fragment = BAD_INPUT[name]
    case = tmp_path / "bad.toml"
    case.write_text(text)
    done = cli("run", case, "-o", tmp_path / "bad.h5", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {case}: {key}")
    assert fragment in lines[0]
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_missing_case_file_and_bad_set_syntax(tmp_path, tiny_case):
    done = cli("run", tmp_path / "nope.toml")
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "no such file" in done.stderr
    done = cli("run", tiny_case, "--set", "nonsense")
    assert done.returncode == 2 and done.stderr.startswith("error: --set: nonsense")


def test_fixed_dt_above_stability_limit_fails_and_keeps_the_last_good_state(tiny_case, tmp_path):
    out = tmp_path / "unstable.h5"
    done = cli("run", tiny_case, "-o", out, "--set", "time.dt=0.1")
    assert done.returncode == 1
    assert "exceeds the stability limit" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # the last good state (here the initial one) is kept, marked failed
    assert list(tmp_path.glob(".*partial")) == []
    result = read_result(out, allow_incomplete=True)
    assert result.attrs["status"] == "failed" and len(result.times) == 1


def test_plot_of_a_missing_or_foreign_file(tmp_path):
    done = cli("plot", tmp_path / "missing.h5")
    assert done.returncode == 2 and "no such file" in done.stderr
    foreign = tmp_path / "foreign.h5"
    foreign.write_text("not hdf5")
    done = cli("plot", foreign)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert not (tmp_path / "foreign_plots").exists(), "#12 defect 6: no empty folder for a non-result"
    (tmp_path / "folder.h5").mkdir()
    done = cli("plot", tmp_path / "folder.h5")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is a directory, not a result file" in done.stderr


def test_version_and_help():
    from pdesolve import __version__
    assert cli("--version").stdout.strip() == f"pdesolve {__version__}"
    for args in (["--help"], ["run", "--help"], ["plot", "--help"]):
        done = cli(*args)
        assert done.returncode == 0 and "usage: pdesolve" in done.stdout


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_every_shipped_case_runs_to_its_end_time(case, tmp_path):
    """Each shipped case to its own t_end, on a grid coarsened to half the cells per
    axis (at least 16): finite and non-negative at every snapshot, mass conserved where the
    dynamics conserve it, and the energy non-increasing for the gradient flows (every
    reaction but reinjection, whose refill from μ_b is not one)."""
    spec = load_case(case)
    coarse = [max(16, n // 2) for n in spec.grid.cells]
    out = tmp_path / "out.h5"
    assert main(["run", str(case), "-o", str(out), "--quiet", "--set",
                 f"grid.cells={coarse}"]) == 0
    result = read_result(out)
    assert result.times[-1] == spec.time.t_end
    assert np.all(np.isfinite(result.mu)) and result.mu.min() >= 0
    mass = result.diagnostics["mass"]
    if spec.dynamics.reaction != "unbalanced":
        assert np.abs(mass / mass[0] - 1).max() < 1e-12
    else:
        assert np.all(np.diff(mass) != 0)
    if not spec.dynamics.reaction.startswith("reinjection"):
        energy = result.diagnostics["energy"]
        assert np.all(np.diff(energy) <= 1e-12 * np.abs(energy).max()), energy
        assert np.all(result.diagnostics["dissipation"] <= 1e-12 * np.abs(energy).max())
    assert result.attrs["status"] == "complete"


def test_time_step_collapse_is_diagnosed(tiny_case, tmp_path):
    out = tmp_path / "stiff.h5"
    done = cli("run", tiny_case, "-o", out, "--set", "potential.stiffness=1e14")
    assert done.returncode == 1, done.stderr
    line, = done.stderr.strip().splitlines()
    assert "time step collapsed" in line and "dynamics.alpha" in line and "Traceback" not in line
    assert read_result(out, allow_incomplete=True).attrs["status"] == "failed"


def test_a_case_too_large_for_memory_is_refused_before_allocating(tiny_case, tmp_path):
    done = cli("run", tiny_case, "-o", tmp_path / "big.h5", "--set", "grid.lower=[-1,-1,-1]",
               "--set", "grid.upper=[1,1,1]", "--set", "grid.cells=[580,580,580]",
               "--set", "potential.center=0", "--set", "potential.stiffness=1",
               "--set", "initial.mean=0", "--set", "initial.std=0.5",
               "--set", "interaction.kind=gaussian")  # padded FFT grid: ~50 GiB, no machine here has it
    assert done.returncode == 2, done.stderr
    line, = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {tiny_case}: grid.cells: the run needs about") and "GiB" in line
    assert not (tmp_path / "big.h5").exists()


def test_resource_estimate_and_disk_warning(tiny_case):
    from pdesolve.config.case import load_case
    from pdesolve.drive.resources import estimate
    from pdesolve.drive.grid_run import check_resources
    case = load_case(tiny_case, ["time.outputs=4"])
    needed = estimate(case)
    assert needed.memory == 8 * 60 * 8 and needed.snapshots_on_disk == 5 * 60 * 8 * 2
    with pytest.raises(Exception, match="needs about"):
        check_resources(case, memory_available=1000)
    big = load_case(tiny_case, ["grid.cells=[2000000]", "time.outputs=200"])
    assert any("on disk" in w for w in check_resources(big))
    gaussian = load_case(tiny_case, ['interaction.kind="gaussian"'])
    assert estimate(gaussian).memory > needed.memory  # the padded FFT grid counts


def test_compare_writes_a_report_and_refuses_to_replace_it(tmp_path):
    case = Path(__file__).parent.parent / "cases" / "gaussian_1d.toml"
    outdir = tmp_path / "report"
    sets = ("--set", "time.t_end=0.2", "--set", "grid.cells=[100]")
    done = cli("compare", case, "--n", "50,200", "--replicates", "4", "--workers", "1", *sets,
               "-o", outdir, "--quiet")
    assert done.returncode == 0, done.stderr
    assert {p.name for p in outdir.iterdir()} == {"report.md", "report.json", "lln.png", "clt.png",
                                                  "clt_variance.png"}
    assert list(tmp_path.glob(".*creating")) == []
    again = cli("compare", case, "--n", "50,200", "--replicates", "4", *sets, "-o", outdir)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr


@pytest.mark.parametrize("option, value, message", [("--n", "50,x", "--n: expected an integer"),
                                                    ("--replicates", "1", "allowed: >= 2"),
                                                    ("--dt", "-1", "--dt"),
                                                    ("--dt", "inf", "not a positive finite number"),
                                                    ("--dt", "nan", "not a positive finite number")])
def test_compare_bad_options_are_one_line_exit_two(option, value, message, tmp_path):
    case = Path(__file__).parent.parent / "cases" / "gaussian_1d.toml"
    done = cli("compare", case, option, value, "-o", tmp_path / "r")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr
    assert not (tmp_path / "r").exists()
