"""HDF5 result files: one file per run, written atomically, read back as a `Result`.

Layout of a result file (all floating-point data float64)::

    /                       attrs: pdesolve_version, case_text (the case file verbatim),
                                   case_source (where it came from), created (ISO 8601, UTC),
                                   status ("running" while written, "complete" after finish),
                                   plus any extra attributes of the run (e.g. title)
    /grid                   attrs: lower (d,), upper (d,), cells (d,), periodic (d,) int8 0/1,
                                   boundary (d,) strings "noflux" | "periodic"
    /grid/x, /grid/y, /grid/z      cell centres per axis (only the case's d axes);
                                   HDF5 dimension scales
    /snapshots/time         (n,)             snapshot times; dimension scale "time"
    /snapshots/mu           (n, *cells)      density μ at each time
    /snapshots/V            (n, *cells)      potential V at each time (only if saved)
    /snapshots/x, y, z      hard links to /grid/x, y, z
    /diagnostics/<name>     (m,)             one column per diagnostic (t, mass, energy, ...; step
                                             is int64, the others float64),
                                             one row at each snapshot time and every
                                             [output] diagnostics_every in between;
                                             if a column "t" exists it is the dimension scale
                                             of the others
    /summary                attrs: end-of-run summary (written by finish)

Every dataset has CF-style ``long_name`` and ``units`` attributes (:mod:`.metadata`).
`mu` and `V` are chunked one snapshot per chunk, gzip-compressed at the chosen level
with the shuffle filter (level 0: no filters). Their first dimension is attached to
/snapshots/time and the spatial dimensions to the axis datasets, so netCDF-4 readers
see named, coordinated dimensions.

Reading with plain h5py::

    import h5py
    with h5py.File("run.h5", "r") as f:
        t = f["snapshots/time"][:]
        mu_last = f["snapshots/mu"][-1]           # reads one snapshot only
        x = f["grid/x"][:]
        energy = f["diagnostics/energy"][:]
        title = f.attrs.get("title")

Reading with xarray (xarray and h5netcdf are not dependencies of pdesolve; this was
checked with xarray 2026.9 and h5netcdf 1.8)::

    import xarray as xr
    snaps = xr.open_dataset("run.h5", group="snapshots", engine="h5netcdf")
    diags = xr.open_dataset("run.h5", group="diagnostics", engine="h5netcdf")
    snaps.mu.sel(time=1.0, method="nearest")    # coordinates time, x, y, z are attached
    tree = xr.open_datatree("run.h5", engine="h5netcdf")  # all groups

Every dimension is named (/checkpoint links the grid axes too), so no ``phony_dims`` option
is needed.  The diagnostics' time coordinate is ``t``, not the snapshots' ``time``: the rows
and the snapshots are two different sets of times.

Or, within pdesolve, `read_result(path)` loads everything into a `Result`, and
`open_result(path)` validates the file and returns the open h5py.File for lazy access.

While a run is being written the data live in a hidden ``.<name>.<pid>.partial`` file
beside the target; `ResultWriter.finish` renames it into place, so a file at the
target path is always complete. A partial file left by a killed process can be read
with ``read_result(partial, allow_incomplete=True)``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import h5py
import numpy as np

from ..model.grid import AXIS_NAMES, Grid
from .atomic import STATUS_COMPLETE, AtomicResultFile, ResultFormatError, write_grid
from .hdf5_access import open_hdf5, plain_value, read_attrs
from .metadata import describe

CHECKPOINT_SCALARS = ("t", "steps", "conserved_mass", "snapshots", "next_output", "last_dt",
                      "diagnostics_rows")
NO_CHECKPOINT = -1   # /checkpoint/current before the first checkpoint
INTEGER_COLUMNS = {"step": np.int64}   # diagnostics stored as integers; the others are float64
_TIME_CHUNK = 256
_DIAGNOSTICS_CHUNK = 1024


@dataclass
class Result:
    """Everything stored in a result file, loaded into memory."""

    grid: Grid
    times: np.ndarray                 # (n,)
    mu: np.ndarray                    # (n, *grid.shape)
    V: np.ndarray | None              # (n, *grid.shape) or None when not saved
    diagnostics: dict[str, np.ndarray]
    attrs: dict[str, Any]
    summary: dict[str, Any]


class ResultWriter(AtomicResultFile):
    """Write one run to ``path`` through a temporary file renamed into place by `finish`.

    Use as a context manager: leaving the block without `finish` (normally or by an
    exception) calls `abort`, which deletes the temporary file.
    """

    def __init__(self, path: str | os.PathLike, grid: Grid, *, case_text: str, case_source: str,
                 attrs: Mapping[str, Any] = MappingProxyType({}), save_potential: bool = True,
                 compression: int = 4, force: bool = False):
        self.grid = grid
        self.save_potential = save_potential
        self._diagnostic_names: tuple[str, ...] | None = None
        self._pending_rows: list[list[float]] = []
        self._bank: int | None = None     # the checkpoint bank last written
        super().__init__(path, case_text=case_text, case_source=case_source, attrs=attrs,
                         compression=compression, force=force)

    def _write_layout(self, compression: int) -> None:
        f = self._file
        g = self.grid
        axis_scales = write_grid(f, g)

        snaps = f.create_group("snapshots")
        for a, axis in enumerate(axis_scales):
            snaps[AXIS_NAMES[a]] = axis  # hard link, so /snapshots reads as a netCDF group
        time = snaps.create_dataset("time", shape=(0,), maxshape=(None,), dtype=np.float64,
                                    chunks=(_TIME_CHUNK,))
        time.make_scale("time")
        describe(time)
        filters = (dict(compression="gzip", compression_opts=compression, shuffle=True)
                   if compression > 0 else {})
        fields = ("mu", "V") if self.save_potential else ("mu",)
        for field in fields:
            ds = snaps.create_dataset(field, shape=(0, *g.shape), maxshape=(None, *g.shape),
                                      dtype=np.float64, chunks=(1, *g.shape), **filters)
            ds.dims[0].attach_scale(time)
            for a, axis in enumerate(axis_scales):
                ds.dims[a + 1].attach_scale(axis)
            describe(ds)

        f.create_group("diagnostics")
        # Two banks: a checkpoint is written whole into the bank not in use, flushed, and only
        # then made current, so a kill -9 at any moment leaves one complete checkpoint.
        checkpoint = f.create_group("checkpoint")
        banks = checkpoint.create_dataset("banks", data=np.arange(2, dtype=np.int64))
        banks.make_scale("banks")
        state = checkpoint.create_dataset("mu", shape=(2, *g.shape), dtype=np.float64, chunks=(1, *g.shape))
        state.dims[0].attach_scale(banks)
        for a, axis in enumerate(axis_scales):   # named dimensions: netCDF readers need no options
            checkpoint[AXIS_NAMES[a]] = axis
            state.dims[a + 1].attach_scale(axis)
        for name in CHECKPOINT_SCALARS:
            checkpoint.create_dataset(name, shape=(2,), dtype=np.float64).dims[0].attach_scale(banks)
        checkpoint.create_dataset("current", data=np.int64(NO_CHECKPOINT))

    def add_snapshot(self, t: float, mu: np.ndarray, V: np.ndarray | None = None) -> None:
        """Append μ (and V when the potential is saved) at time t."""
        snaps = self._require_open()["snapshots"]
        shape = self.grid.shape
        if np.shape(mu) != shape:
            raise ValueError(f"mu has shape {np.shape(mu)}, grid has shape {shape}")
        arrays = {"mu": mu}
        if self.save_potential:
            if V is None:
                raise ValueError("V is required: this writer saves the potential")
            if np.shape(V) != shape:
                raise ValueError(f"V has shape {np.shape(V)}, grid has shape {shape}")
            arrays["V"] = V
        self._write_pending_rows()
        n = snaps["time"].shape[0]
        # time last: its length counts the snapshots that were written completely
        for name, values in arrays.items():
            ds = snaps[name]
            ds.resize(n + 1, axis=0)
            ds[n] = values
        snaps["time"].resize((n + 1,))
        snaps["time"][n] = t
        self._file.flush()

    def add_diagnostics(self, row: Mapping[str, float]) -> None:
        """Append one row of diagnostics; the first row fixes the column names.  Rows are
        held in memory until the next snapshot, checkpoint or close writes them."""
        if self._diagnostic_names is not None and set(row) != set(self._diagnostic_names):
            raise ValueError(f"diagnostics row has keys {sorted(row)}, "
                             f"expected {sorted(self._diagnostic_names)}")
        if self._diagnostic_names is None:
            self._append_rows({name: np.array([value], dtype=np.float64) for name, value in row.items()})
        else:
            self._pending_rows.append([float(row[name]) for name in self._diagnostic_names])
            if len(self._pending_rows) >= _DIAGNOSTICS_CHUNK:   # bounded memory between checkpoints
                self._write_pending_rows()

    def _write_pending_rows(self) -> None:
        if self._pending_rows:
            table = np.array(self._pending_rows, dtype=np.float64)
            self._pending_rows = []
            self._append_rows({name: table[:, j] for j, name in enumerate(self._diagnostic_names)})

    def _append_rows(self, columns: Mapping[str, np.ndarray]) -> None:
        """Append equally long ``columns`` (name -> values) to /diagnostics."""
        group = self._require_open()["diagnostics"]
        if self._diagnostic_names is None:
            if not columns:
                raise ValueError("a diagnostics row needs at least one column")
            self._diagnostic_names = tuple(columns)
            for name in self._diagnostic_names:
                ds = group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=INTEGER_COLUMNS.get(name, np.float64),
                                          chunks=(_DIAGNOSTICS_CHUNK,))
                describe(ds)
            if "t" in group:
                group["t"].make_scale("t")
                for name in self._diagnostic_names:
                    if name != "t":
                        group[name].dims[0].attach_scale(group["t"])
        m = group[self._diagnostic_names[0]].shape[0]
        added = len(next(iter(columns.values())))
        for name in self._diagnostic_names:
            ds = group[name]
            ds.resize((m + added,))
            ds[m:] = columns[name]

    def diagnostics_rows(self) -> int:
        """Number of diagnostics rows added so far."""
        if self._diagnostic_names is None:
            return 0
        written = self._require_open()["diagnostics"][self._diagnostic_names[0]].shape[0]
        return written + len(self._pending_rows)

    def diagnostics(self) -> dict[str, h5py.Dataset]:
        """The diagnostics columns written so far (datasets of the open file)."""
        self._write_pending_rows()
        return dict(self._require_open()["diagnostics"].items())

    def last_snapshot(self) -> np.ndarray:
        """μ of the last snapshot written (a copy)."""
        return self._require_open()["snapshots/mu"][-1]

    def write_checkpoint(self, mu: np.ndarray, **state: float) -> None:
        """Store μ, the scalars ``state`` (every name of CHECKPOINT_SCALARS but
        diagnostics_rows, which the writer counts) in the bank of /checkpoint not in use,
        flush, then make that bank current and flush again: the file always holds one
        complete checkpoint, the last one whose second flush finished.

        The first checkpoint also switches the file to HDF5 single-writer/multiple-reader
        mode and gives it its ``.partial`` name: from then on the file on disk stays
        readable (``h5py.File(path, "r", swmr=True)``) even if the process is killed.
        """
        f = self._require_open()
        missing = set(CHECKPOINT_SCALARS) - {"diagnostics_rows"} - set(state)
        if missing:
            raise ValueError(f"a checkpoint needs {', '.join(sorted(missing))}")
        if not f.swmr_mode and self._diagnostic_names is None:
            raise RuntimeError("write a diagnostics row before the first checkpoint")
        self._write_pending_rows()
        group = f["checkpoint"]
        bank = 1 - self._bank if self._bank is not None else 0
        group["mu"][bank] = mu
        state["diagnostics_rows"] = self.diagnostics_rows()
        for key, value in state.items():
            group[key][bank] = value
        f.flush()   # the bank, and the rows and snapshots it covers, are in the file ...
        group["current"][()] = bank   # ... before it is made current
        self._bank = bank
        self._stamp_wall_time()
        self._go_live()
        f.flush()

    def _close_with_status(self, status: str, summary: Mapping[str, Any] | None) -> None:
        if self._file is not None:
            self._write_pending_rows()
            self._settle_checkpoint()
        super()._close_with_status(status, summary)

    def _settle_checkpoint(self) -> None:
        """Copy the current checkpoint into the other bank and make bank 0 current: a closed
        file then holds only its last checkpoint, whatever the checkpoints before it were
        (wall-time ones, or those of an earlier leg of a resumed run), so equal runs give
        equal files.  The bank not current is written first, so a kill leaves a whole one."""
        if self._bank is None:
            return
        group = self._file["checkpoint"]
        other = 1 - self._bank
        for name in ("mu", *CHECKPOINT_SCALARS):
            group[name][other] = group[name][self._bank]
        if other == 0:
            self._file.flush()
            group["current"][()] = 0
        self._bank = 0

    @classmethod
    def resume(cls, path: str | os.PathLike, check=None, **options: Any) -> tuple[ResultWriter, dict]:
        """Continue the result at ``path`` (interrupted), or the partial file a killed run
        left beside it, whichever is newer (see `AtomicResultFile.resume_source`): a new
        writer holding its snapshots and diagnostics up to the last checkpoint, and that
        checkpoint {"mu": array, "t": ..., ...}.  ``options`` go to the constructor.
        ``check(attrs)`` sees the old file's root attributes before anything is written and
        may raise to refuse.  The files resumed from are deleted once the new one holds the
        checkpoint durably.  Raises ResultFormatError when there is nothing to resume."""
        return cls._resume(path, _validate_source, check, **options)

    @classmethod
    def _writer_resuming(cls, path: Path, old: h5py.File, attrs: dict, extra: dict,
                         **options: Any) -> ResultWriter:
        return cls(path, read_grid(old), case_text=attrs["case_text"], case_source=attrs["case_source"],
                   attrs=extra, save_potential="V" in old["snapshots"], force=True, **options)

    def _copy_progress(self, old: h5py.File) -> dict:
        """Copy the snapshots and diagnostics rows the checkpoint of ``old`` covers, then the
        checkpoint; return it."""
        checkpoint = read_checkpoint(old)
        kept = int(checkpoint["snapshots"])
        snaps = old["snapshots"]
        for i in range(kept):
            self.add_snapshot(float(snaps["time"][i]), snaps["mu"][i], snaps["V"][i] if "V" in snaps else None)
        rows = int(checkpoint.pop("diagnostics_rows"))
        self._append_rows({name: ds[:rows] for name, ds in old["diagnostics"].items()})
        self.write_checkpoint(**checkpoint)   # the first one: fsynced before it goes live
        return checkpoint


def _validate_source(source: Path, old: h5py.File) -> None:
    """Refuse (ResultFormatError) a file that is no interrupted grid result with a checkpoint."""
    attrs = read_attrs(old)
    if "kind" in attrs:
        raise ResultFormatError(f"{source}: a result of 'pdesolve {attrs['kind']}', not of 'pdesolve run'")
    if not {"grid", "snapshots", "diagnostics"} <= set(old):
        raise ResultFormatError(f"{source}: not a pdesolve result")
    if attrs.get("status") == STATUS_COMPLETE:
        raise ResultFormatError(f"{source}: the run is already complete; nothing to resume")
    if "checkpoint" not in old or read_checkpoint(old) is None:
        raise ResultFormatError(f"{source}: no checkpoint to resume from")


def read_checkpoint(f: h5py.File) -> dict | None:
    """The current checkpoint of an open grid result, {"mu": array, name: float for every
    name of CHECKPOINT_SCALARS}, or None when none was written.  Files of pdesolve 0.1 (one
    bank, no last_dt, a diagnostics row per snapshot) are read too."""
    group = f["checkpoint"]
    if "current" not in group:           # pdesolve 0.1
        scalars = {name: float(group[name][()]) for name in CHECKPOINT_SCALARS if name in group}
        if scalars.get("snapshots", 0.0) < 1:
            return None
        scalars.setdefault("last_dt", 0.0)
        scalars.setdefault("diagnostics_rows", scalars["snapshots"])
        return {"mu": group["mu"][...], **scalars}
    bank = int(group["current"][()])
    if bank == NO_CHECKPOINT:
        return None
    return {"mu": group["mu"][bank], **{name: float(group[name][bank]) for name in CHECKPOINT_SCALARS}}


def open_result(path: str | os.PathLike, *, allow_incomplete: bool = False) -> h5py.File:
    """Open a result file read-only after checking that it is a pdesolve result.

    Raises `ResultFormatError` when /grid or /snapshots is missing, or when the status
    is not "complete" and ``allow_incomplete`` is false. The caller closes the file.
    """
    path = Path(path)
    f = open_hdf5(path, swmr=True)   # a file left open by a writer is read in SWMR mode, then refused below
    try:
        if "kind" in f.attrs:
            raise ResultFormatError(f"{path}: a result of 'pdesolve {plain_value(f.attrs['kind'])}', not of "
                                    "'pdesolve run'")
        for group in ("grid", "snapshots", "diagnostics"):
            if group not in f:
                raise ResultFormatError(f"{path}: not a pdesolve result (missing group /{group})")
        status = plain_value(f.attrs.get("status", "missing"))
        if status != STATUS_COMPLETE and not allow_incomplete:
            raise ResultFormatError(f"{path}: an incomplete pdesolve result (status {status!r});"
                                    " pass allow_incomplete=True to read it anyway")
    except BaseException:
        f.close()
        raise
    return f


def read_grid(f: h5py.File) -> Grid:
    """The `Grid` stored in /grid of an open result file."""
    attrs = f["grid"].attrs
    return Grid(lower=tuple(attrs["lower"]), upper=tuple(attrs["upper"]),
                cells=tuple(attrs["cells"]), periodic=tuple(bool(p) for p in attrs["periodic"]))


def snapshot_count(f: h5py.File) -> int:
    """Number of snapshots written completely (all of time, mu and V present)."""
    snaps = f["snapshots"]
    return min(snaps[name].shape[0] for name in ("time", "mu", "V") if name in snaps)


def read_diagnostics(f: h5py.File) -> dict[str, np.ndarray]:
    """All diagnostic columns of an open result file, cut to their common length."""
    group = f["diagnostics"]
    if not group:
        return {}
    m = min(group[name].shape[0] for name in group)
    return {name: group[name][:m] for name in group}


def read_result(path: str | os.PathLike, *, allow_incomplete: bool = False) -> Result:
    """Load a whole result file into memory (see the module docstring for the layout)."""
    with open_result(path, allow_incomplete=allow_incomplete) as f:
        n = snapshot_count(f)
        snaps = f["snapshots"]
        return Result(
            grid=read_grid(f),
            times=snaps["time"][:n],
            mu=snaps["mu"][:n],
            V=snaps["V"][:n] if "V" in snaps else None,
            diagnostics=read_diagnostics(f),
            attrs=read_attrs(f),
            summary=read_attrs(f["summary"]) if "summary" in f else {},
        )
