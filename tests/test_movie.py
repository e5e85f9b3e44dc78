"""``pdesolve plot OUT.h5 --movie``: one frame per snapshot, one colour scale, written whole
or not at all (#17 item 2)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from pdesolve.analysis.figures import PlotOptions
from pdesolve.analysis.movie import write_movie
from pdesolve.cli import main
from test_plotting import GRIDS, write_run


def frames(path):
    with Image.open(path) as movie:
        out = []
        for k in range(movie.n_frames):
            movie.seek(k)
            out.append(np.asarray(movie.convert("RGB"), dtype=float))
        return out


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_a_gif_has_one_frame_per_snapshot_and_the_frames_move(tmp_path, ndim):
    result = write_run(tmp_path / "run.h5", GRIDS[ndim], snapshots=5)
    movie = write_movie(result, tmp_path / "m.gif")
    shot = frames(movie)
    assert len(shot) == 5 and len({f.shape for f in shot}) == 1
    assert all(np.abs(a - b).mean() > 0.05 for a, b in zip(shot, shot[1:]))   # the bump drifts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gif", "run.h5"]     # no temporary left


def test_the_cli_writes_density_gif_by_default_and_takes_times(tmp_path, capsys):
    result = write_run(tmp_path / "run.h5", GRIDS[2], snapshots=8)
    assert main(["plot", str(result), "--movie", "-o", str(tmp_path / "figs"), "--times", "0,2"]) == 0
    written = tmp_path / "figs" / "density.gif"
    assert capsys.readouterr().out.strip() == str(written)
    assert len(frames(written)) == 2
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["density.gif"]   # the movie only


def test_bad_movie_requests_are_one_line_and_write_nothing(tmp_path, capsys, monkeypatch):
    grid_result = write_run(tmp_path / "run.h5", GRIDS[1], snapshots=3)
    monkeypatch.setenv("PATH", str(tmp_path / "no-ffmpeg-here"))
    for args, message in ((["--movie", str(tmp_path / "m.avi")], "must end in .gif or .mp4"),
                          (["--movie", str(tmp_path / "m.mp4")], "needs ffmpeg on PATH"),
                          (["--movie", str(tmp_path)], "must end in"),
                          (["--movie", "--times", "5"], "--times: 5 is outside"),
                          (["--movie", "--format", "pdf"], "--format: sets the format of the figures")):
        assert main(["plot", str(grid_result), *args, "-o", str(tmp_path / "figs")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.h5"]


def test_an_mp4_streams_every_frame_to_ffmpeg(tmp_path, monkeypatch):
    """No ffmpeg on this machine: a stand-in on PATH checks what pdesolve sends it (raw RGB
    frames of the size it announces) and writes the byte count where the MP4 would go."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ffmpeg"
    fake.write_text("#!/bin/sh\nfor last; do :; done\nwc -c > \"$last\"\necho \"$@\" >> \"$last\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = write_run(tmp_path / "run.h5", GRIDS[2], snapshots=4)
    movie = write_movie(result, tmp_path / "m.mp4", PlotOptions())
    count, arguments = movie.read_text().splitlines()
    size = arguments.split("-s ")[1].split()[0]
    width, height = map(int, size.split("x"))
    assert int(count) == 4 * width * height * 3 and "-pix_fmt rgb24" in arguments


def test_the_dpi_sets_the_frame_size_and_a_file_as_output_folder_is_refused(tmp_path, capsys):
    result = write_run(tmp_path / "run.h5", GRIDS[2], snapshots=2)
    small, large = (write_movie(result, tmp_path / f"{dpi}.gif", PlotOptions(dpi=dpi)) for dpi in (50, 100))
    assert frames(small)[0].shape[0] * 2 == pytest.approx(frames(large)[0].shape[0], abs=2)
    blocker = tmp_path / "figures"
    blocker.write_text("a file")
    assert main(["plot", str(result), "-o", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"-o {blocker}: exists and is not a directory" in err


def test_a_movie_asking_for_more_frames_than_allowed_is_refused(tmp_path, monkeypatch):
    import pdesolve.analysis.movie as movie
    monkeypatch.setattr(movie, "MAX_FRAMES", 3)
    result = write_run(tmp_path / "run.h5", GRIDS[1], snapshots=5)
    with pytest.raises(ValueError, match=r"--times: 4 snapshots are too many .*at most 3"):
        write_movie(result, tmp_path / "m.gif", PlotOptions(times=(0.0, 0.5, 1.0, 2.0)))
    assert not list(tmp_path.glob("*.gif")) and not list(tmp_path.glob(".*"))
