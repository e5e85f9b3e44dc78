"""HDF5 files of particle runs (``pdesolve particles``): written through a temporary file,
checkpointed so that an interrupted or killed run resumes bit for bit, read back as a
`ParticleResult`.

Layout (float64 unless said; R replicates, T output times, n particles, d axes, S
checkpoint slots = replicates that may be in progress at once)::

    /                        attrs: pdesolve_version, kind = "particles", case_text,
                                    case_source, created (ISO 8601, UTC), status
                                    ("running", "interrupted", "complete"), and the run's
                                    title, overrides (the --set list, "" if none), n,
                                    replicates, seed, keep_positions, interaction, integrator
    /grid                    attrs lower, upper, cells, periodic (int8), boundary;
                             /grid/x, y, z: cell centres (dimension scales)
    /times                   (T,)               output times (dimension scale "time")
    /replicate, /axis, /axis2 (R,), (d,), (d,) int64   0, 1, …: dimension scales of the
                             observables, so that every dimension has a name
                             (xarray.open_dataset(path, group="observables", engine="h5netcdf"));
                             /particle (n,) as well with keep_positions
    /observables/x, y, z, times, replicate, axis, axis2   hard links to those scales (so that
                             the group's coordinates are in it)
    /observables/mass        (R, T)             M = Σ w_i
    /observables/mean        (R, T, d)          Σ w_i θ_i / M
    /observables/covariance  (R, T, d, d)       Σ w_i (θ_i − m)(θ_i − m)ᵀ / M
    /observables/energy      (R, T)             ∫F dμⁿ + ½∫∫K dμⁿdμⁿ
    /observables/histogram   (R, T, *cells)     Σ_{θ_i in cell} w_i / |cell| on the case grid
    /positions               (R, T, n, d)       particle positions (only with keep_positions)
    /replicates/steps        (R,) int64         steps taken by replicate r (when finished)
    /replicates/dt           (R,)               the largest step it used
    /checkpoint/finished     (R,) int8          1: every output of replicate r is written
    /checkpoint/bank         (S,) int64         which of the two banks of slot s is valid
    /checkpoint/replicate    (2, S) int64       replicate held in the slot, −1: free
    /checkpoint/positions    (2, S, n, d)       its particles,
    /checkpoint/weights      (2, S, n)          their weights,
    /checkpoint/rng_state    (2, S) S1024       JSON of its numpy bit_generator.state,
    /checkpoint/next_output  (2, S) int64       outputs written (= index of the next one),
    /checkpoint/substep      (2, S) int64       steps done in the current output interval,
    /checkpoint/steps        (2, S) int64       steps done since t = 0,
    /checkpoint/step, t      (2, S)             its step bound Δt and current time
    /summary                 attrs: replicates, n, dt (largest step), steps, wall_time, workers

A replicate that is neither finished nor held in a slot has not started.  A slot is
rewritten in its spare bank and only then switched (``bank``), so a process killed while
writing a checkpoint leaves the previous one intact.  While a run is written the data
live in ``.<name>.<pid>.creating``, renamed ``.<name>.<pid>.partial`` at the first
checkpoint (from then on in HDF5 single-writer/multiple-reader mode: readable with
``h5py.File(p, "r", swmr=True)`` even after kill -9); `ParticleWriter.finish` renames it
to the target, so a file at the target path is complete or marked interrupted.

Reading::

    from pdesolve.io.particle_result import read_particles
    result = read_particles("run_particles.h5")
    result.mean[:, -1]          # (R, d): each replicate's mean at the last time
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..model.grid import Grid
from .atomic import STATUS_COMPLETE, AtomicResultFile, ResultFormatError, write_grid
from .grid_result import read_grid
from .hdf5_access import open_hdf5, read_attrs
from .metadata import describe

FILE_KIND = "particles"
OBSERVABLES = ("mass", "mean", "covariance", "energy", "histogram")
RNG_STATE_BYTES = 1024
_SLOT_FIELDS = ("replicate", "next_output", "substep", "steps", "step", "t")


@dataclass
class ReplicateCheckpoint:
    """Everything needed to continue replicate ``replicate`` bit for bit."""

    replicate: int
    positions: np.ndarray      # (n, d)
    weights: np.ndarray        # (n,)
    rng_state: dict            # numpy ``Generator.bit_generator.state``
    step: float                # the replicate's step bound Δt
    next_output: int = 0       # outputs written so far = index of the next output time
    substep: int = 0           # steps done in the current output interval
    steps: int = 0             # steps done since t = 0
    t: float = 0.0             # current time


@dataclass
class ParticleResult:
    """A particle result file loaded into memory (see the module docstring)."""

    grid: Grid
    times: np.ndarray                  # (T,)
    mass: np.ndarray                   # (R, T)
    mean: np.ndarray                   # (R, T, d)
    covariance: np.ndarray             # (R, T, d, d)
    energy: np.ndarray                 # (R, T)
    histogram: np.ndarray              # (R, T, *grid.shape)
    positions: np.ndarray | None       # (R, T, n, d) or None
    outputs_done: np.ndarray           # (R,) outputs written per replicate (T: finished)
    attrs: dict[str, Any]
    summary: dict[str, Any]


def _observable_shapes(grid: Grid, replicates: int, count: int) -> dict[str, tuple[int, ...]]:
    d = grid.ndim
    return {"mass": (replicates, count), "mean": (replicates, count, d),
            "covariance": (replicates, count, d, d), "energy": (replicates, count),
            "histogram": (replicates, count, *grid.shape)}


def _scale(f: h5py.Group, name: str, values: np.ndarray) -> h5py.Dataset:
    """A dataset ``name`` of group ``f`` holding ``values``, made an HDF5 dimension scale of that name."""
    ds = f.create_dataset(name, data=values)
    ds.make_scale(name)
    describe(ds)
    return ds


class ParticleWriter(AtomicResultFile):
    """Write one particle run to ``path`` through a temporary file renamed into place.

    Use as a context manager: leaving the block without `finish` or `suspend` deletes
    the temporary file.  ``slots`` is the number of replicates that may be checkpointed
    in progress at once.
    """

    KIND = FILE_KIND
    RESERVED_ROOT_ATTRS = ("pdesolve_version", "kind", "case_text", "case_source", "created", "status")
    DESCRIPTION = "particle writer"

    def __init__(self, path: str | os.PathLike, grid: Grid, times: np.ndarray, *, replicates: int,
                 n: int, slots: int, keep_positions: bool, case_text: str, case_source: str,
                 attrs: Mapping[str, Any], compression: int = 4, force: bool = False):
        self.grid = grid
        self.times = np.asarray(times, dtype=np.float64)
        self.replicates, self.n, self.slots = replicates, n, max(1, slots)
        self.keep_positions = keep_positions
        self.run_attrs = dict(attrs)
        self._slot_of: dict[int, int] = {}
        super().__init__(path, case_text=case_text, case_source=case_source, attrs=attrs,
                         compression=compression, force=force)

    def _write_layout(self, compression: int) -> None:
        f = self._file
        axes = write_grid(f, self.grid)
        time = f.create_dataset("times", data=self.times)
        time.make_scale("time")
        describe(time)
        filters = (dict(compression="gzip", compression_opts=compression, shuffle=True)
                   if compression > 0 else {})
        R, T, n, d = self.replicates, self.times.size, self.n, self.grid.ndim
        # every dimension of every observable is a named dimension scale, so that netCDF
        # readers (xarray with h5netcdf) open /observables with no options
        scales = {name: _scale(f, name, np.arange(size, dtype=np.int64))
                  for name, size in (("replicate", R), ("axis", d), ("axis2", d))}
        group = f.create_group("observables")
        # hard links: a netCDF reader shows a group's coordinates only when they are in it
        for scale in (*axes, time, *scales.values()):
            group[scale.name.rsplit("/", 1)[-1]] = scale
        for name, shape in _observable_shapes(self.grid, R, T).items():
            ds = group.create_dataset(name, shape=shape, dtype=np.float64, chunks=(1, *shape[1:]),
                                      **filters)
            trailing = axes if name == "histogram" else [scales["axis"], scales["axis2"]][:len(shape) - 2]
            for dim, scale in zip(ds.dims, [scales["replicate"], time, *trailing]):
                dim.attach_scale(scale)
            describe(ds)
        particle = _scale(f, "particle", np.arange(n, dtype=np.int64))
        if self.keep_positions:
            ds = f.create_dataset("positions", shape=(R, T, n, d), dtype=np.float64,
                                  chunks=(1, 1, n, d), **filters)
            describe(ds)
            for dim, scale in zip(ds.dims, (scales["replicate"], time, particle, scales["axis"])):
                dim.attach_scale(scale)
        # Contiguous datasets written element by element need an explicit fill value: with
        # HDF5's default one no fill is written when their space is allocated, and the
        # elements not yet written read back as whatever bytes were there (finished flags
        # of -58 were seen, i.e. replicates taken as finished that never ran).
        zero = {"fillvalue": 0}
        group = f.create_group("replicates")
        group.create_dataset("steps", shape=(R,), dtype=np.int64, **zero)
        group.create_dataset("dt", shape=(R,), dtype=np.float64, **zero)
        for ds in group.values():
            ds.dims[0].attach_scale(scales["replicate"])
        group = f.create_group("checkpoint")
        S = self.slots
        # named dimensions here too (two banks of S slots), so that netCDF readers need no options
        slot_scales = {"banks": _scale(group, "banks", np.arange(2, dtype=np.int64)),
                       "slot": _scale(group, "slot", np.arange(S, dtype=np.int64)),
                       "particle": particle, "axis": scales["axis"], "replicate": scales["replicate"]}
        created = [
            (group.create_dataset("finished", shape=(R,), dtype=np.int8, **zero), ("replicate",)),
            (group.create_dataset("bank", shape=(S,), dtype=np.int64, **zero), ("slot",)),
            (group.create_dataset("replicate", data=np.full((2, S), -1, dtype=np.int64)), ("banks", "slot")),
            (group.create_dataset("positions", shape=(2, S, n, d), dtype=np.float64, chunks=(1, 1, n, d)),
             ("banks", "slot", "particle", "axis")),
            (group.create_dataset("weights", shape=(2, S, n), dtype=np.float64, chunks=(1, 1, n)),
             ("banks", "slot", "particle")),
            (group.create_dataset("rng_state", shape=(2, S), dtype=f"S{RNG_STATE_BYTES}", fillvalue=b""),
             ("banks", "slot")),
        ]
        for name in ("next_output", "substep", "steps"):
            created.append((group.create_dataset(name, shape=(2, S), dtype=np.int64, **zero), ("banks", "slot")))
        for name in ("step", "t"):
            created.append((group.create_dataset(name, shape=(2, S), dtype=np.float64, **zero), ("banks", "slot")))
        for ds, dims in created:
            for dim, name in zip(ds.dims, dims):
                dim.attach_scale(slot_scales[name])

    def write_output(self, replicate: int, k: int, row: Mapping[str, Any]) -> None:
        """Store the observables (and positions, if kept) of ``replicate`` at times[k]."""
        f = self._require_open()
        for name in OBSERVABLES:
            f["observables"][name][replicate, k] = row[name]
        if self.keep_positions:
            f["positions"][replicate, k] = row["positions"]

    def replicate_record(self) -> tuple[np.ndarray, np.ndarray]:
        """(steps, largest step) per replicate, as recorded by `finish_replicate`."""
        group = self._require_open()["replicates"]
        return group["steps"][:], group["dt"][:]

    def save_state(self, state: ReplicateCheckpoint) -> None:
        """Checkpoint a replicate in progress (the outputs it reports must be written)."""
        if state.replicate not in self._slot_of:
            free = sorted(set(range(self.slots)) - set(self._slot_of.values()))
            if not free:
                raise RuntimeError(f"more than {self.slots} replicates in progress at once")
            self._slot_of[state.replicate] = free[0]
        self._write_slot(self._slot_of[state.replicate], state)

    def finish_replicate(self, replicate: int, steps: int, dt: float) -> None:
        """Record that every output of ``replicate`` is written, and free its slot."""
        f = self._require_open()
        f["replicates/steps"][replicate] = steps
        f["replicates/dt"][replicate] = dt
        f["checkpoint/finished"][replicate] = 1
        self._stamp_wall_time()
        self._go_live()
        f.flush()
        slot = self._slot_of.pop(replicate, None)
        if slot is not None:
            self._write_slot(slot, None)

    def _write_slot(self, slot: int, state: ReplicateCheckpoint | None) -> None:
        """Write ``state`` (None: a free slot) into the spare bank of ``slot``, flush, switch."""
        f = self._require_open()
        group = f["checkpoint"]
        bank = 1 - int(group["bank"][slot])
        if state is None:
            group["replicate"][bank, slot] = -1
        else:
            rng_text = json.dumps(state.rng_state).encode()
            if len(rng_text) > RNG_STATE_BYTES:
                raise ValueError(f"random generator state longer than {RNG_STATE_BYTES} bytes")
            group["positions"][bank, slot] = state.positions
            group["weights"][bank, slot] = state.weights
            group["rng_state"][bank, slot] = rng_text
            for name in _SLOT_FIELDS:
                group[name][bank, slot] = getattr(state, name)
        self._stamp_wall_time()
        self._go_live()
        f.flush()
        group["bank"][slot] = bank
        f.flush()

    @classmethod
    def resume(cls, path: str | os.PathLike, *, slots: int,
               check: Callable[[dict[str, Any]], None] | None = None,
               compression: int = 4) -> tuple[ParticleWriter, np.ndarray, dict[int, ReplicateCheckpoint]]:
        """Continue the interrupted result at ``path``, or the partial file a killed run left
        beside it (the most recently written of them): a new writer holding everything the
        last checkpoint covers, the finished flags (R,) and the replicates in progress.
        ``check(attrs)`` sees the old root attributes first and may raise to refuse.
        Raises ResultFormatError when there is nothing to resume."""
        writer, (finished, states) = cls._resume(path, _validate_source, check, slots=slots,
                                                 compression=compression)
        return writer, finished, states

    @classmethod
    def _writer_resuming(cls, path: Path, old: h5py.File, attrs: dict, extra: dict, *, slots: int,
                         compression: int) -> ParticleWriter:
        in_progress = _slots_in_use(old["checkpoint"])
        return cls(path, read_grid(old), old["times"][:], replicates=int(attrs["replicates"]),
                   n=int(attrs["n"]), slots=max(slots, in_progress),
                   keep_positions=bool(attrs["keep_positions"]), case_text=attrs["case_text"],
                   case_source=attrs["case_source"], attrs=extra, compression=compression, force=True)

    def _copy_progress(self, old: h5py.File) -> tuple[np.ndarray, dict[int, ReplicateCheckpoint]]:
        """Copy the outputs and checkpoint of ``old`` that its finished flags and slots vouch
        for; return (finished flags, replicates in progress)."""
        finished, states = _read_checkpoint(old["checkpoint"])
        f = self._require_open()
        T = self.times.size
        for r in range(self.replicates):
            done = T if finished[r] else (states[r].next_output if r in states else 0)
            if done == 0:
                continue
            for name in OBSERVABLES:
                f["observables"][name][r, :done] = old["observables"][name][r, :done]
            if self.keep_positions:
                f["positions"][r, :done] = old["positions"][r, :done]
            if finished[r]:
                f["replicates/steps"][r] = old["replicates/steps"][r]
                f["replicates/dt"][r] = old["replicates/dt"][r]
                f["checkpoint/finished"][r] = 1
        for state in states.values():
            self.save_state(state)
        self._go_live()
        self.make_durable()   # all of it, before the files resumed from may be deleted
        return finished, states


def _validate_source(source: Path, old: h5py.File) -> None:
    """Refuse (ResultFormatError) a file that is no unfinished particle result."""
    attrs = read_attrs(old)
    if attrs.get("kind") != FILE_KIND or "checkpoint" not in old:
        raise ResultFormatError(f"{source}: not a result of 'pdesolve particles'")
    if attrs.get("status") == STATUS_COMPLETE:
        raise ResultFormatError(f"{source}: the run is already complete; nothing to resume")


def _occupied_slots(group: h5py.Group) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """The finished flags, and (slot, valid bank, replicate) of each slot holding an
    unfinished replicate."""
    finished = group["finished"][:].astype(bool)
    replicates = group["replicate"][:]
    occupied = [(slot, int(bank), int(replicates[bank, slot])) for slot, bank in enumerate(group["bank"][:])]
    return finished, [(slot, bank, r) for slot, bank, r in occupied if r >= 0 and not finished[r]]


def _slots_in_use(group: h5py.Group) -> int:
    """How many checkpoint slots hold a replicate in progress."""
    return len(_occupied_slots(group)[1])


def _read_checkpoint(group: h5py.Group) -> tuple[np.ndarray, dict[int, ReplicateCheckpoint]]:
    """The finished flags and the valid bank of every occupied slot of an unfinished replicate."""
    finished, occupied = _occupied_slots(group)
    states = {
        r: ReplicateCheckpoint(
            replicate=r, positions=group["positions"][bank, slot], weights=group["weights"][bank, slot],
            rng_state=json.loads(group["rng_state"][bank, slot].decode()),
            step=float(group["step"][bank, slot]), next_output=int(group["next_output"][bank, slot]),
            substep=int(group["substep"][bank, slot]), steps=int(group["steps"][bank, slot]),
            t=float(group["t"][bank, slot]))
        for slot, bank, r in occupied}
    return finished, states


def read_particles(path: str | os.PathLike, *, allow_incomplete: bool = False) -> ParticleResult:
    """Load a particle result file (see the module docstring for the layout).

    Raises FileNotFoundError, or ResultFormatError for a file that is not a particle
    result or (unless ``allow_incomplete``) is not complete.
    """
    path = Path(path)
    with open_hdf5(path, swmr=allow_incomplete) as f:
        attrs = read_attrs(f)
        if attrs.get("kind") != FILE_KIND:
            raise ResultFormatError(f"{path}: not a result of 'pdesolve particles'")
        if attrs.get("status") != STATUS_COMPLETE and not allow_incomplete:
            raise ResultFormatError(f"{path}: an incomplete particle result (status "
                                    f"{attrs.get('status')!r}); pass allow_incomplete=True to read it anyway")
        finished, states = _read_checkpoint(f["checkpoint"])
        times = f["times"][:]
        done = np.array([times.size if finished[r] else (states[r].next_output if r in states else 0)
                         for r in range(finished.size)], dtype=np.int64)
        observables = {name: f["observables"][name][:] for name in OBSERVABLES}
        return ParticleResult(grid=read_grid(f), times=times, **observables,
                              positions=f["positions"][:] if "positions" in f else None,
                              outputs_done=done, attrs=attrs,
                              summary=read_attrs(f["summary"]) if "summary" in f else {})
