"""``pdesolve info``, ``run --dry-run``, plots of runs that did not finish, and the run summary's
wording (#17 items 4, 6 and 9)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdesolve.cli import main
from pdesolve.config.case import case_from_text, load_case
from pdesolve.config.toml_text import case_toml

ROOT = Path(__file__).resolve().parent.parent
CASES = sorted((ROOT / "cases").glob("*.toml"))
GAUSSIAN = ROOT / "cases" / "gaussian_1d.toml"
SMALL = ("--set", "time.t_end=0.2", "--set", "time.outputs=2", "--set", "grid.cells=64")


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_the_resolved_case_written_out_loads_back_as_the_same_case(path):
    case = load_case(path)
    again = case_from_text(path, case_toml(case))
    for section in ("title", "grid", "potential", "interaction", "dynamics", "initial", "time", "scheme",
                    "output", "particles"):
        assert getattr(again, section) == getattr(case, section), section


def test_dry_run_prints_the_resolved_case_and_the_estimates_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "run", GAUSSIAN, *SMALL, "--dry-run", "-o", "x.h5")
    assert code == 0, err
    assert "[grid]\nlower = [-5.0]\nupper = [5.0]\ncells = [64]\nboundary = [\"noflux\"]" in out
    assert 'limiter = "mc"' in out and "checkpoint_seconds = 300.0" in out      # defaults shown
    assert "# time step  dt = " in out and "(time.cfl = 0.5 at t = 0" in out
    assert "# steps      about " in out and " over 2 output intervals" in out
    assert "# memory     about " in out and "# disk       up to " in out
    assert "# output     x.h5\n# nothing was run (--dry-run)" in out
    assert list(tmp_path.iterdir()) == []
    code, out, err = run(capsys, "run", GAUSSIAN, *SMALL, "--set", "time.dt=0.007", "--set", "time.outputs=10",
                         "--dry-run")
    assert code == 0 and "# steps      30 to t_end = 0.2 over 10 output intervals" in out   # 10 × ceil(0.02/0.007)
    code, out, err = run(capsys, "run", GAUSSIAN, "--set", "time.dt=0.5", "--dry-run")
    assert code == 1 and "dt = 0.5 exceeds the stability limit" in err
    negative = tmp_path / "negative.toml"       # valid keys, but a density built negative
    negative.write_text('[grid]\nlower = [-1]\nupper = [1]\ncells = 8\n[initial]\nkind = "expression"\n'
                        'expr = "x"\n[time]\nt_end = 1\n')
    for case, args, message in ((GAUSSIAN, ("-o", str(GAUSSIAN)), "is the case file of this run"),
                                (GAUSSIAN, ("--resume", "x.h5"), "--dry-run: not with --resume"),
                                (negative, (), "initial density 'x' is negative")):
        code, out, err = run(capsys, "run", case, *args, "--dry-run")
        assert code == 2 and message in err and err.count("\n") == 1, err
    negative.unlink()
    code, out, err = run(capsys, "run", GAUSSIAN, "--set", "grid.cells=1", "--dry-run")
    assert code == 2 and err.count("\n") == 1 and "grid.cells" in err


def test_info_of_a_result_names_its_case_grid_times_and_invariants(tmp_path, capsys):
    out = tmp_path / "r.h5"
    assert main(["run", str(GAUSSIAN), *SMALL, "-o", str(out), "-q"]) == 0
    code, text, err = run(capsys, "info", out)
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in text.strip().splitlines())
    assert lines["file"] == f"{out}: a result of 'pdesolve run', status complete"
    assert lines["case"].endswith("--set time.t_end=0.2 --set time.outputs=2 --set grid.cells=64")
    assert lines["grid"] == "64 cells on [-5, 5] (noflux)"
    import h5py
    with h5py.File(out) as f:
        rows = f["diagnostics/t"].shape[0]
    assert rows > 3 and lines["snapshots"] == f"3, t = 0 … 0.2; diagnostics: {rows} rows"
    assert lines["mass"].startswith("1 -> 1  (relative drift ")
    assert lines["checkpoint"].startswith("t = 0.2 after ")
    assert lines["last"].startswith("row    t = 0.2, after ")
    import h5py
    with h5py.File(tmp_path / "other.h5", "w") as f:     # an HDF5 file with a case_text, not a result
        f.attrs["case_text"] = "x"
    code, text, err = run(capsys, "info", tmp_path / "other.h5")
    assert code == 2 and err == f"error: {tmp_path / 'other.h5'}: not a pdesolve result (no /grid)\n"
    code, text, err = run(capsys, "info", tmp_path / "missing.h5")
    assert code == 2 and err == f"error: {tmp_path / 'missing.h5'}: no such file\n"
    (tmp_path / "notes.txt").write_text("not a result")
    code, text, err = run(capsys, "info", tmp_path / "notes.txt")
    assert code == 2 and err.count("\n") == 1 and "not an HDF5 file" in err


def test_a_mass_that_changes_by_design_is_not_called_a_drift(tmp_path, capsys):
    out = tmp_path / "u.h5"
    code, text, err = run(capsys, "run", GAUSSIAN, *SMALL, "--set", "dynamics.reaction=unbalanced", "-o", out)
    assert code == 0, err
    assert "(relative change -" in text and "drift" not in text
    assert f" -m pdesolve plot {out}" in text and "plot it: " in text     # run in-process, not as a script
    code, text, err = run(capsys, "info", out)
    assert "(relative change -" in text


def test_a_killed_run_can_be_inspected_and_plotted_labelled_incomplete(tmp_path, capsys):
    out = tmp_path / "k.h5"
    process = subprocess.Popen([sys.executable, "-m", "pdesolve", "run", str(GAUSSIAN), "--set", "grid.cells=3000",
                                "--set", "time.t_end=20", "--set", "time.outputs=200", "-q", "-o", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        partials = list(tmp_path.glob(".k.h5.*.partial"))
        if partials and partials[0].stat().st_size > 200_000:    # a few snapshots in
            break
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    partial = partials[0]
    code, text, err = run(capsys, "info", partial)
    assert code == 0, err
    assert "status running  (INCOMPLETE: the run did not finish: its process is gone" in text
    assert "snapshots" in text and "checkpoint  t = " in text
    code, text, err = run(capsys, "plot", partial)
    assert code == 0, err
    folder = tmp_path / "k_plots"
    assert sorted(p.name for p in folder.iterdir()) == ["diagnostics.png", "exact.png", "potential.png",
                                                        "snapshots.png"]
    from pdesolve.analysis.plotting import plot_result
    from pdesolve.io.atomic import ResultFormatError
    with pytest.raises(ResultFormatError, match="incomplete"):
        plot_result(partial, tmp_path / "refused")     # the library default stays strict


def test_the_plot_hint_names_pdesolve_as_it_can_be_typed(monkeypatch, tmp_path):
    from pdesolve import cli
    script = tmp_path / ".venv" / "bin" / "pdesolve"
    script.parent.mkdir(parents=True)
    script.write_text("")
    monkeypatch.setattr(sys, "argv", [str(script), "run"])
    monkeypatch.setattr("shutil.which", lambda name: None)            # not activated
    assert cli._invocation() == str(script)
    monkeypatch.setattr("shutil.which", lambda name: str(script))     # on PATH
    assert cli._invocation() == "pdesolve"
    monkeypatch.setattr(sys, "argv", ["-m", "run"])                    # python -m pdesolve
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert cli._invocation() == f"{sys.executable} -m pdesolve"       # the python that has pdesolve


def test_the_title_of_a_run_that_did_not_finish_says_so():
    from pdesolve.analysis.figures import result_title
    assert result_title({"title": "T", "status": "complete"}) == "T"
    assert result_title({"title": "T", "status": "running"}) == "T [INCOMPLETE: status 'running']"
    assert result_title({"status": "interrupted"}) == "[INCOMPLETE: status 'interrupted']"


def test_compare_names_no_hidden_temporary_folder_while_it_works(tmp_path, capsys):
    from pdesolve.analysis.comparison import compare_into
    compare_into(load_case(GAUSSIAN, ("time.t_end=0.1", "grid.cells=64")), (20, 40), 4, tmp_path / "report",
                 workers=1, progress=True)
    err = capsys.readouterr().err
    assert "writing the report" in err and ".creating" not in err
