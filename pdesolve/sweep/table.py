"""The collected table of a sweep, ``DIR/sweep.nc``: netCDF-4 written with h5netcdf, so that
``xarray.open_dataset("DIR/sweep.nc")`` opens it with no options.

One dimension, ``task``.  Its coordinates: each swept parameter under its dotted case key
(``dynamics.alpha``; numbers as numbers, anything else as its text, e.g. ``64x48`` for
``[64, 48]``), ``replicate`` and ``seed`` when the sweep has replicates, and ``name`` (the
file or folder the task wrote).  Its variables: ``status`` (complete, failed, interrupted,
pending), ``reason`` (one line, for a failed task), ``seconds`` (the wall time of the attempt
that gave this status: 0 for a task that ``--resume`` found complete), ``reused`` (1: its
result was found complete, by ``--resume`` or by a retry after a lost worker), ``resumed`` (1:
continued from a checkpoint, after an interruption or a lost worker) and every scalar of
:mod:`.scalars` (NaN where a task has none).  Root attributes: title, the sweep file's text
and absolute path, the base case's text and absolute path, the task kind, when it was written.

A full product turns into an array over the parameters with
``ds.set_index(task=["dynamics.alpha", "replicate"]).unstack("task")``.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..io.atomic import fsync_directory, fsync_file, temporary_path
from .spec import Sweep, _label_value
from .tasks import TaskOutcome

TABLE_NAME = "sweep.nc"
TEXT_COLUMNS = ("name", "status", "reason")


@dataclass(frozen=True)
class SweepTable:
    """A sweep table read back: parameter columns, text columns and scalar columns."""

    title: str
    parameters: dict[str, np.ndarray]
    text: dict[str, np.ndarray]
    scalars: dict[str, np.ndarray]
    replicate: np.ndarray | None


def parameter_column(values: Sequence[Any]) -> np.ndarray:
    """Numbers as float64 (int64 when all are integers), anything else as text labels."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        return np.asarray(values, dtype=np.int64 if all(isinstance(v, int) for v in values) else np.float64)
    return np.asarray([_label_value(v) for v in values], dtype=object)


def write_table(sweep: Sweep, outcomes: Sequence[TaskOutcome], path: Path) -> Path:
    """Write the table of ``sweep`` with one outcome per task (in task order) to ``path``,
    through a temporary file renamed into place."""
    import h5netcdf

    tasks = sweep.tasks
    count = len(tasks)
    coordinates = {key: parameter_column([dict(t.parameters)[key] for t in tasks]) for key in sweep.axes}
    if tasks and tasks[0].replicate is not None:
        coordinates["replicate"] = np.asarray([t.replicate for t in tasks], dtype=np.int64)
        coordinates["seed"] = np.asarray([t.seed for t in tasks], dtype=np.int64)
    coordinates["name"] = np.asarray([t.name for t in tasks], dtype=object)
    names = sorted({name for o in outcomes for name in o.scalars})
    scalars = {name: np.asarray([o.scalars.get(name, math.nan) for o in outcomes], dtype=np.float64)
               for name in names}
    columns = {"status": np.asarray([o.status for o in outcomes], dtype=object),
               "reason": np.asarray([o.reason for o in outcomes], dtype=object),
               "seconds": np.asarray([o.seconds for o in outcomes], dtype=np.float64),
               "resumed": np.asarray([o.resumed for o in outcomes], dtype=np.int8),
               "reused": np.asarray([o.reused for o in outcomes], dtype=np.int8), **scalars}
    temporary = temporary_path(path, ".creating")
    try:
        with h5netcdf.File(temporary, "w") as f:
            f.dimensions = {"task": count}
            f.create_variable("task", ("task",), data=np.arange(count, dtype=np.int64))
            for key, values in coordinates.items():
                _variable(f, key, values)
            for key, values in columns.items():
                _variable(f, key, values).attrs["coordinates"] = " ".join(coordinates)
            f.attrs.update({"title": sweep.title, "sweep_file": str(sweep.path.resolve()),
                            "sweep_text": sweep.text, "case": str(sweep.case.resolve()),
                            "case_text": sweep.case_text, "task_kind": sweep.kind,
                            "pdesolve_version": __version__,
                            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        fsync_file(temporary)
        os.replace(temporary, path)
        fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _variable(f, key: str, values: np.ndarray):
    if values.dtype == object:
        return f.create_variable(key, ("task",), dtype=h5py.string_dtype("utf-8"), data=values)
    fill = {"fillvalue": np.nan} if values.dtype == np.float64 else {}
    return f.create_variable(key, ("task",), data=values, **fill)


def read_table(path: Path) -> SweepTable:
    """Load ``DIR/sweep.nc`` (ResultFormatError if it is not a sweep table)."""
    from ..io.atomic import ResultFormatError
    from ..io.hdf5_access import open_hdf5, plain_value

    with open_hdf5(path) as f:
        if "sweep_text" not in f.attrs or "status" not in f:
            raise ResultFormatError(f"{path}: not a sweep table written by 'pdesolve sweep'")
        coordinates = plain_value(f["status"].attrs.get("coordinates", "")).split()

        def column(name: str) -> np.ndarray:
            data = f[name][()]
            return np.asarray([plain_value(v) for v in data]) if data.dtype.kind in "OS" else data

        replicate = column("replicate") if "replicate" in f else None
        parameters = {k: column(k) for k in coordinates if k not in ("replicate", "seed", "name")}
        text = {k: column(k) for k in TEXT_COLUMNS}
        skip = {"task", "seconds", "resumed", "reused", *TEXT_COLUMNS, *coordinates}
        scalars = {k: f[k][()] for k in f if k not in skip}
        return SweepTable(title=plain_value(f.attrs["title"]), parameters=parameters, text=text,
                          scalars=scalars, replicate=replicate)
