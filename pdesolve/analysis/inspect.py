"""``pdesolve info``: what a result file, a killed run's partial file or a sweep folder holds,
on one screen, without loading its arrays.

Grid results: status, title, case and overrides, grid, snapshots and times, steps and wall
time, mass and energy at the first and last diagnostics row (the mass line says "drift" for
dynamics that conserve mass, "change" for those that do not), the loss for network cases,
and the checkpoint (time, steps).  Particle results: n, replicates, seed, how many
replicates are finished, output times, the summary.  Sweep folders: the task count by
status, the swept parameters and the scalars of ``sweep.nc``.  Files left open by a writer
(running, or killed) are opened read-only in SWMR mode and labelled incomplete.
"""
from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import numpy as np

from ..io.atomic import STATUS_COMPLETE, ResultFormatError, process_alive
from ..io.grid_result import read_checkpoint
from ..io.hdf5_access import open_hdf5, read_attrs


def describe(path: str | os.PathLike) -> list[str]:
    """The lines ``pdesolve info`` prints for ``path`` (ResultFormatError, FileNotFoundError)."""
    path = Path(path)
    if path.is_dir():
        return _sweep_lines(path)
    with open_hdf5(path, swmr=True) as f:
        attrs = read_attrs(f)
        kind = attrs.get("kind", "run")
        needed = REQUIRED[kind] if kind in REQUIRED else ("kind",)
        missing = [name for name in needed if name not in f]
        if "case_text" not in attrs or missing:
            raise ResultFormatError(f"{path}: not a pdesolve result (no "
                                    + (f"/{missing[0]}" if missing else "case_text attribute") + ")")
        status = attrs.get("status", "missing")
        label = "" if status == STATUS_COMPLETE else f"  (INCOMPLETE: {_unfinished(path, status)})"
        lines = [f"file        {path}: a result of 'pdesolve {kind}', status {status}{label}",
                 f"title       {attrs.get('title', '')}",
                 f"case        {attrs.get('case_source')}" + _overrides(attrs),
                 f"written     {attrs.get('created')} by pdesolve {attrs.get('pdesolve_version')}",
                 _grid_line(read_attrs(f["grid"]))]
        lines += _particle_lines(f, attrs) if kind == "particles" else _grid_result_lines(f, attrs)
    return lines


# the groups and datasets each kind of result has from its first write on
REQUIRED = {"run": ("grid", "snapshots", "diagnostics", "checkpoint"),
            "particles": ("grid", "times", "observables", "checkpoint")}


def _unfinished(path: Path, status: str) -> str:
    """Why a result is not complete: interrupted, failed, or a writer still running or gone."""
    if status != "running":
        return f"the run was {status}"
    match = re.fullmatch(r"\..+\.(\d+)\.partial", path.name)
    if match and process_alive(int(match[1]), path):
        return f"process {match[1]} is still writing it"
    return "the run did not finish: its process is gone (killed or crashed); --resume continues it"


def _overrides(attrs: dict) -> str:
    from ..config.case import recorded_overrides
    return "".join(f" --set {shlex.quote(item)}" for item in recorded_overrides(attrs))


def _grid_line(grid: dict) -> str:
    cells = "×".join(str(int(c)) for c in np.atleast_1d(grid["cells"]))
    box = " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(np.atleast_1d(grid["lower"]), np.atleast_1d(grid["upper"])))
    boundary = grid.get("boundary", [])
    boundary = ", ".join(boundary) if isinstance(boundary, list) else str(boundary)
    return f"grid        {cells} cells on {box} ({boundary})"


def _grid_result_lines(f, attrs: dict) -> list[str]:
    times = f["snapshots/time"][:]
    diagnostics = f["diagnostics"]
    # the columns of a killed run's file may differ in length by the row it was writing
    rows = min((ds.shape[0] for ds in diagnostics.values()), default=0) if "t" in diagnostics else 0
    lines = [f"snapshots   {times.size}" + (f", t = {times[0]:g} … {times[-1]:g}" if times.size else "")
             + f"; diagnostics: {rows} rows"]
    if rows:
        first, last = ({name: float(ds[k]) for name, ds in diagnostics.items()} for k in (0, rows - 1))
        mass_change = (last["mass"] - first["mass"]) / first["mass"] if first["mass"] else float("nan")
        word = "change" if not _conserves_mass(attrs) else "drift"
        lines.append(f"last row    t = {last['t']:g}, after {int(last['step'])} steps")
        lines.append(f"mass        {first['mass']:.12g} -> {last['mass']:.12g}  (relative {word} {mass_change:+.2e})")
        lines.append(f"energy      {first['energy']:.8g} -> {last['energy']:.8g}")
        if "loss" in last:
            lines.append(f"loss        {first['loss']:.6g} -> {last['loss']:.6g}")
    checkpoint = read_checkpoint(f) if "checkpoint" in f and "t" in f["checkpoint"] else None
    if checkpoint is not None:
        lines.append(f"checkpoint  t = {checkpoint['t']:g} after {int(checkpoint['steps'])} steps, "
                     f"{float(f['checkpoint'].attrs.get('wall_time', 0.0)):.2f} s of wall time so far")
    if "summary" in f and f["summary"].attrs:
        summary = read_attrs(f["summary"])
        lines.append(f"finished    {int(summary.get('steps', 0))} steps in {summary.get('wall_time', 0.0):.2f} s wall")
    return lines


def _conserves_mass(attrs: dict) -> bool:
    """Whether the run's dynamics conserve mass: its case (text and overrides) read back."""
    from ..config.case import CaseError, recorded_case
    from ..model.reactions import get_reaction

    try:
        case = recorded_case(attrs)
    except CaseError:
        return True
    return case.dynamics.alpha.is_zero or get_reaction(case.dynamics.reaction).conserves_mass


def _particle_lines(f, attrs: dict) -> list[str]:
    times = f["times"][:]
    finished = f["checkpoint/finished"][:] if "checkpoint/finished" in f else np.zeros(0)
    lines = [f"particles   n = {attrs.get('n')}, {attrs.get('replicates')} replicates, seed {attrs.get('seed')}, "
             f"{attrs.get('interaction')} interaction, {attrs.get('integrator')} integrator",
             f"outputs     {times.size}, t = {times[0]:g} … {times[-1]:g}",
             f"finished    {int(finished.sum())} of {finished.size} replicates"]
    if "summary" in f and f["summary"].attrs:
        summary = read_attrs(f["summary"])
        lines.append(f"summary     {int(summary.get('steps', 0))} steps, dt = {summary.get('dt', 0.0):.4g}, "
                     f"{summary.get('wall_time', 0.0):.2f} s wall on {summary.get('workers')} worker(s)")
    return lines


def _sweep_lines(folder: Path) -> list[str]:
    from ..sweep.table import TABLE_NAME, read_table

    table_path = folder / TABLE_NAME
    if not table_path.is_file():
        raise ResultFormatError(f"{folder}: is a directory, not a result file, and holds no {TABLE_NAME} "
                                "(not a sweep folder)")
    table = read_table(table_path)
    statuses, counts = np.unique(table.text["status"], return_counts=True)
    lines = [f"sweep       {folder}: {table.text['status'].size} tasks, "
             + ", ".join(f"{c} {s}" for s, c in zip(statuses, counts)),
             f"title       {table.title}"]
    for key, values in table.parameters.items():
        levels = list(dict.fromkeys(values.tolist()))
        lines.append(f"parameter   {key}: {', '.join(map(str, levels[:8]))}" + (" …" if len(levels) > 8 else ""))
    if table.replicate is not None:
        lines.append(f"replicates  {np.unique(table.replicate).size}")
    lines.append(f"scalars     {', '.join(table.scalars)}")
    for index in np.flatnonzero(table.text["status"] == "failed")[:5]:
        lines.append(f"failed      {table.text['name'][index]}: {table.text['reason'][index]}")
    return lines
