"""``pdesolve cases``: the shipped case files are package data, listed in one line each and
copied out on request (#17 item 6)."""
from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from pdesolve.cli import main
from pdesolve.config.case import load_case
from pdesolve.config.shipped import shipped_cases

ROOT = Path(__file__).resolve().parent.parent


def test_every_shipped_file_is_package_data_and_the_top_level_cases_folder_is_the_same():
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pdesolve"]
    folder = ROOT / "pdesolve" / "cases"
    files = [p.relative_to(ROOT / "pdesolve").as_posix() for p in folder.rglob("*") if p.is_file()]
    assert files and all(any(fnmatch.fnmatch(f, g) for g in globs) for f in files), files
    assert (ROOT / "cases").resolve() == folder.resolve()
    assert sorted(shipped_cases()) == sorted(p.stem for p in folder.glob("*.toml"))


def test_the_listing_has_one_line_per_case_with_its_grid_and_title(capsys):
    assert main(["cases"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    cases = shipped_cases()
    assert len(lines) == len(cases) + 1 and lines[-1].startswith("copy one with: ")
    by_name = {line.split()[0]: line for line in lines[:-1]}
    assert by_name.keys() == cases.keys()
    assert "1-D 400" in by_name["gaussian_1d"] and "(exact solution)" in by_name["gaussian_1d"]
    assert "3-D 48×48×48" in by_name["gaussian_kernel_3d"]


def test_a_case_is_copied_runnable_and_never_over_an_existing_file(tmp_path, capsys):
    assert main(["cases", "gaussian_1d", "-o", str(tmp_path)]) == 0
    copied = tmp_path / "gaussian_1d.toml"
    assert copied.read_bytes() == shipped_cases()["gaussian_1d"].read_bytes()
    assert "run it with: " in capsys.readouterr().out
    load_case(copied)                                   # a valid case as it stands
    copied.write_text("# edited\n")
    assert main(["cases", "gaussian_1d.toml", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; use --force" in err
    assert copied.read_text() == "# edited\n"
    assert main(["cases", "gaussian_1d", "-o", str(tmp_path), "--force"]) == 0
    assert copied.read_bytes() == shipped_cases()["gaussian_1d"].read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gaussian_1d.toml"]   # no temporary left


def test_an_unknown_name_or_folder_is_one_line(tmp_path, capsys):
    assert main(["cases", "gausian_1d", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'gaussian_1d'?" in err and "allowed: birth_death_2d" in err
    assert main(["cases", "gaussian_1d", "-o", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err
    assert not list(tmp_path.iterdir())


def test_files_written_whole_get_the_mode_of_a_new_file(tmp_path):
    """cases, export --xdmf and plot --movie write a temporary file (created 0600) and rename
    it: the result must be readable as any new file is (0666 less the umask)."""
    import os
    import stat
    from test_plotting import GRIDS, write_run
    umask = os.umask(0o022)
    try:
        assert main(["cases", "gaussian_1d", "-o", str(tmp_path)]) == 0
        result = write_run(tmp_path / "r.h5", GRIDS[2], snapshots=2)
        assert main(["export", str(result), "--xdmf"]) == 0
        assert main(["plot", str(result), "--movie", str(tmp_path / "m.gif")]) == 0
    finally:
        os.umask(umask)
    for name in ("gaussian_1d.toml", "r.xdmf", "m.gif"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name


def test_options_of_a_copy_need_a_name(tmp_path, capsys):
    assert main(["cases", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "need its NAME" in err
