"""An animation of the density of a grid result: ``pdesolve plot OUT.h5 --movie [FILE]``.

One frame per snapshot (at most MAX_FRAMES, evenly chosen, or the ``--times`` asked for),
drawn as the snapshot figure draws one time: the 1-D curve (with the exact solution dashed
when the case has one), the 2-D image, or the three planes through the 3-D centre of mass,
on one colour scale for the whole film.  GIF is written with Pillow (which matplotlib
already needs); MP4 with ffmpeg, when it is on PATH.  The file appears complete or not at
all (written beside the target and renamed).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from ..io.atomic import replaced_whole
from ..io.grid_result import open_result, read_attrs, read_grid, snapshot_count
from .figures import (DENSITY_CMAP, PlotOptions, axis_names, chosen_times, density_axis, density_image, density_norm,
                      result_title)
from .plotting import PLANES, centre_of_mass_slices, exact_flow_of_result

MAX_FRAMES = 150
FRAME_SECONDS = 0.1
MOVIE_FORMATS = (".gif", ".mp4")


def check_movie_target(target: Path) -> None:
    """ValueError (one line, naming --movie) unless ``target`` is a .gif, or an .mp4 with
    ffmpeg on PATH, in an existing folder."""
    if target.suffix.lower() not in MOVIE_FORMATS:
        raise ValueError(f"--movie {target}: the file must end in {' or '.join(MOVIE_FORMATS)}")
    if target.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise ValueError(f"--movie {target}: an MP4 needs ffmpeg on PATH, which is not there; write a .gif instead")
    if target.exists() and target.is_dir():
        raise ValueError(f"--movie {target}: is a directory")


def write_movie(path: str | os.PathLike, target: str | os.PathLike, options: PlotOptions = PlotOptions(),
                *, allow_incomplete: bool = True) -> Path:
    """Animate the density of the result file ``path`` into ``target`` (.gif or .mp4)."""
    target = Path(target)
    check_movie_target(target)
    with open_result(path, allow_incomplete=allow_incomplete) as f:
        grid = read_grid(f)
        attrs = read_attrs(f)
        names = axis_names(attrs, grid.ndim)
        n = snapshot_count(f)
        if n == 0:
            raise ValueError(f"{path}: no snapshot yet: nothing to animate")
        times = f["snapshots/time"][:n]
        chosen = chosen_times(times, options.times, MAX_FRAMES, str(path), limit=MAX_FRAMES)
        mu = f["snapshots/mu"]
        peaks = [np.array([np.max(mu[i])]) for i in chosen]   # the scale needs each frame's peak only
        norm = density_norm(peaks, options)
        flow = exact_flow_of_result(attrs)
        title = result_title(attrs) or Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        with replaced_whole(target) as temporary:
            frames = (_frame(grid, float(times[i]), mu[i], names, norm, flow, title, options.dpi) for i in chosen)
            if target.suffix.lower() == ".gif":
                _write_gif(frames, temporary)
            else:
                _write_mp4(frames, temporary)
    return target


def _frame(grid, t: float, mu: np.ndarray, names, norm, flow, title: str, dpi: int) -> np.ndarray:
    """One frame as an RGB array (height, width, 3), at ``dpi``."""
    if grid.ndim == 1:
        figure = Figure(figsize=(7, 4.2), layout="constrained")
        ax = figure.add_subplot()
        ax.plot(grid.axes[0], mu, color="C0", label="pdesolve")
        if flow is not None:
            ax.plot(grid.axes[0], flow.state(t).density(grid), "k--", linewidth=0.8, label="exact")
            ax.legend(loc="upper right")
        density_axis(ax, norm)
        ax.set_xlim(grid.lower[0], grid.upper[0])
        ax.set_xlabel(names[0])
        ax.set_ylabel("μ")
    elif grid.ndim == 2:
        figure = Figure(figsize=(6, 4.8), layout="constrained")
        ax = figure.add_subplot()
        image = density_image(ax, grid, mu, 0, 1, norm, DENSITY_CMAP, names)
        figure.colorbar(image, ax=ax, label="μ")
    else:
        figure = Figure(figsize=(11.5, 3.8), layout="constrained")
        axes = figure.subplots(1, len(PLANES))
        for ax, (plane, h, v, label) in zip(axes, centre_of_mass_slices(grid, mu, names)):
            image = density_image(ax, grid, plane, h, v, norm, DENSITY_CMAP, names)
            ax.set_title(label)
        figure.colorbar(image, ax=list(axes), label="μ")
    figure.suptitle(f"{title}\nt = {t:.4g}", fontsize="medium")
    figure.set_dpi(dpi)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _write_gif(frames, path: Path) -> None:
    images = [Image.fromarray(frame).quantize(colors=256, method=Image.Quantize.MEDIANCUT) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(FRAME_SECONDS * 1000), loop=0)


def _write_mp4(frames, path: Path) -> None:
    import itertools
    import subprocess

    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{width}x{height}", "-r", str(round(1 / FRAME_SECONDS)), "-i", "-",
               "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", "-f", "mp4", str(path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE) as ffmpeg:
        for frame in itertools.chain([first], frames):
            ffmpeg.stdin.write(np.ascontiguousarray(frame).tobytes())
        ffmpeg.stdin.close()
        if ffmpeg.wait() != 0:
            raise OSError(f"ffmpeg failed writing {path}")
