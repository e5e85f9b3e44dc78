"""One atomic, SWMR, checkpointing HDF5 file: the base of the grid and the particle results.

A result is written to ``.<name>.<pid>.creating`` beside its path.  The first checkpoint
switches it to single-writer/multiple-reader mode and renames it ``.<name>.<pid>.partial``,
so that the file on disk stays readable even after ``kill -9``.  :meth:`finish` stores the
summary, marks it complete and renames it onto the path; :meth:`suspend` marks it interrupted
(or failed) and does the same; :meth:`abort`, and leaving the ``with`` block without either,
deletes it.  Subclasses write their layout (:meth:`_write_layout`) and their data.

Files of dead processes beside a target are handled here too: a ``.creating`` one never holds
a checkpoint and is deleted when the next writer of that target starts; a ``.partial`` one
holds the last checkpoint of a killed run, so a new run refuses to start over it without
``force``, :meth:`AtomicResultFile.resume_source` resumes from the newest readable one, and
they are deleted only once a newer file is durable (a resumed file's first checkpoint, or a
finished result).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import __version__
from ..model.grid import AXIS_NAMES, Grid
from .hdf5_access import (DAMAGE_ERRORS, DamagedFileError, ResultFormatError, first_line, open_hdf5, read_attrs,
                          trust_written)
from .metadata import describe

# HDF5 object versions written: from 1.10 (what SWMR needs) to 1.14, so that readers built on
# HDF5 1.14 (ParaView/VTK, netCDF-C 4.9, MATLAB) open the files; "latest" under HDF5 2.0
# writes layout messages they cannot decode
FILE_FORMAT_VERSIONS = ("v110", "v114" if h5py.version.hdf5_version_tuple >= (1, 14) else "latest")
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"
STATUS_FAILED = "failed"


class AtomicResultFile:
    """The life cycle of one result file; ``KIND`` (root attribute ``kind``, None: none) and
    ``RESERVED_ROOT_ATTRS`` (written here, refused in ``attrs``) are set by the subclass."""

    KIND: str | None = None
    RESERVED_ROOT_ATTRS: tuple[str, ...] = ("pdesolve_version", "case_text", "case_source",
                                            "created", "status")
    DESCRIPTION = "result writer"

    def __init__(self, path: str | os.PathLike, *, case_text: str, case_source: str,
                 attrs: Mapping[str, Any], compression: int, force: bool):
        self.path = Path(path)
        if self.path.exists() and not force:
            raise FileExistsError(f"{self.path} already exists; use --force to overwrite it")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"output directory {self.path.parent} does not exist")
        if not 0 <= compression <= 9:
            raise ValueError(f"compression level must be 0..9, got {compression}")
        reserved = sorted(set(attrs) & set(self.RESERVED_ROOT_ATTRS))
        if reserved:
            raise ValueError(f"attrs may not set reserved root attributes {reserved}")
        self.force = force
        self._opened = time.perf_counter()
        self.earlier_wall_time = 0.0   # of the legs before a resume, from the file resumed
        remove_dead_temporaries(self.path, (".creating",))
        left = temporaries(self.path, (".partial",)) if not force else []
        if left:
            partial, pid = left[0]
            if pid != os.getpid() and process_alive(pid, partial):
                raise FileExistsError(f"{partial}: process {pid} is writing {self.path} now")
            raise FileExistsError(f"{partial}: a killed run of {self.path} left its checkpoint "
                                  f"there; resume it with --resume {self.path}, or use --force "
                                  "to start over")
        self.temp_path = temporary_path(self.path, ".creating")
        self._file: h5py.File | None = h5py.File(self.temp_path, "w", libver=FILE_FORMAT_VERSIONS)
        try:
            self._write_root(case_text, case_source, attrs)
            self._write_layout(compression)
        except BaseException:
            self.abort()
            raise

    def _write_root(self, case_text: str, case_source: str, attrs: Mapping[str, Any]) -> None:
        f = self._file
        f.attrs["pdesolve_version"] = __version__
        if self.KIND is not None:
            f.attrs["kind"] = self.KIND
        f.attrs["case_text"] = case_text
        f.attrs["case_source"] = case_source
        f.attrs["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        f.attrs["status"] = STATUS_RUNNING
        for key, value in attrs.items():
            f.attrs[key] = value

    def _write_layout(self, compression: int) -> None:
        """Create the groups and datasets of the file kind."""
        raise NotImplementedError

    def wall_time(self) -> float:
        """Seconds spent on this result so far, over every leg of a resumed run."""
        return self.earlier_wall_time + time.perf_counter() - self._opened

    def _stamp_wall_time(self) -> None:
        """Record `wall_time` with the checkpoint (attribute /checkpoint.wall_time)."""
        self._require_open()["checkpoint"].attrs["wall_time"] = self.wall_time()

    def _require_open(self) -> h5py.File:
        if self._file is None:
            raise RuntimeError(f"{self.DESCRIPTION} for {self.path} is closed")
        return self._file

    def _go_live(self) -> None:
        """At the first checkpoint: single-writer/multiple-reader mode, fsync, the ``.partial`` name."""
        f = self._require_open()
        if not f.swmr_mode:
            f.swmr_mode = True
            self.make_durable()  # before the name may replace a dead run's file of the same pid
            partial = self.temp_path.with_suffix(".partial")
            os.replace(self.temp_path, partial)
            fsync_directory(partial.parent)
            self.temp_path = partial

    def suspend(self, status: str = STATUS_INTERRUPTED) -> Path:
        """Mark the file ``status`` (interrupted, or failed), close it and move it to ``path``."""
        self._close_with_status(status, None)
        os.replace(self.temp_path, self.path)
        fsync_directory(self.path.parent)
        return self.path

    def finish(self, summary: Mapping[str, Any]) -> Path:
        """Store the summary, mark the file complete and move it to ``path``."""
        self._require_open()
        if self.path.exists() and not self.force:
            self.abort()
            raise FileExistsError(f"{self.path} appeared while writing; use --force to overwrite it")
        try:
            self._close_with_status(STATUS_COMPLETE, summary)
            os.replace(self.temp_path, self.path)
            fsync_directory(self.path.parent)
        except BaseException:
            self.abort()
            raise
        remove_dead_temporaries(self.path)  # checkpoints superseded by the complete result
        trust_written(self.path)
        return self.path

    def make_durable(self) -> None:
        """Flush the open file and fsync it: what it holds survives a crash of the machine."""
        self._require_open().flush()
        fsync_file(self.temp_path)

    @classmethod
    def _resume(cls, path: str | os.PathLike, validate: Callable[[Path, h5py.File], None],
                check: Callable[[dict[str, Any]], None] | None, **options: Any) -> tuple[Any, Any]:
        """Resume the run of ``path``: pick the source (`resume_source`), let ``check(attrs)``
        refuse it, open a new writer on it (``cls._writer_resuming(path, old, attrs, extra,
        **options)``, ``extra`` the run's own root attributes), copy what its checkpoint
        covers (``writer._copy_progress(old)``, which returns what resume reports and leaves
        the checkpoint durable), then retire the files resumed from.  Returns (writer, what
        the copy returned); a failed copy deletes the new file and keeps the old ones."""
        path = Path(path)
        with cls.resume_source(path, validate) as (source, old):
            source_modified = source.stat().st_mtime
            attrs = read_attrs(old)
            if check is not None:
                check(attrs)
            extra = {k: v for k, v in attrs.items() if k not in cls.RESERVED_ROOT_ATTRS}
            writer = cls._writer_resuming(path, old, attrs, extra, **options)
            writer.earlier_wall_time = float(old["checkpoint"].attrs.get("wall_time", 0.0))
            try:
                progress = writer._copy_progress(old)
            except BaseException:
                writer.abort()
                raise
        retire_sources(path, source_modified)
        return writer, progress

    @classmethod
    @contextmanager
    def resume_source(cls, path: str | os.PathLike,
                      validate: Callable[[Path, h5py.File], None]) -> Iterator[tuple[Path, h5py.File]]:
        """The file to resume the run of ``path`` from, open (SWMR, read-only), with its name.

        Candidates are ``path`` and the ``.partial`` files of dead processes beside it, newest
        first; ``validate(source, file)`` raises ResultFormatError to refuse one for good (a
        complete run, another case).  A truncated or unreadable candidate is passed over for
        an older one (and kept: see `retire_sources`); if none is left, the newest one's
        damage is reported.  A partial file of a process still running is refused.  Errors
        while the block copies the source are reported as ResultFormatError naming it."""
        path = Path(path)
        if path.is_dir():
            raise ResultFormatError(f"{path}: is a directory, not a result file")
        candidates: list[tuple[Path, int | None]] = list(temporaries(path, (".partial",)))
        if path.exists():
            candidates.append((path, None))
        candidates.sort(key=lambda item: _modified(item[0]), reverse=True)
        damage = []
        for source, pid in candidates:
            if pid not in (None, os.getpid()) and process_alive(pid, source):
                raise ResultFormatError(f"{source}: process {pid} is still writing this run; "
                                        "stop it before resuming")
            try:
                old = open_hdf5(source, swmr=True)
            except DamagedFileError as err:
                damage.append(err)
                continue
            except FileNotFoundError:   # gone since it was listed, or not a regular file
                damage.append(DamagedFileError(f"{source}: not a regular file"))
                continue
            with old:
                try:
                    validate(source, old)
                except DAMAGE_ERRORS as err:
                    damage.append(DamagedFileError(f"{source}: damaged ({first_line(err)})"))
                    continue
                try:
                    yield source, old
                except DAMAGE_ERRORS as err:   # reading the source, or writing the copy
                    raise ResultFormatError(f"{source}: cannot be copied to resume it "
                                            f"({first_line(err)})") from None
                return
        if damage:
            raise ResultFormatError(f"{damage[0]}; nothing to resume") from None
        raise ResultFormatError(f"{path}: no such result, and no partial file of a killed run beside it")

    def _close_with_status(self, status: str, summary: Mapping[str, Any] | None) -> None:
        """Close the writing handle, then set the root status (and /summary) and fsync."""
        self._require_open().close()
        self._file = None
        with h5py.File(self.temp_path, "r+") as f:
            if summary is not None:
                group = f.create_group("summary")
                for key, value in summary.items():
                    group.attrs[key] = value
            f.attrs["status"] = status
        fsync_file(self.temp_path)

    def abort(self) -> None:
        """Close and delete the temporary file (no-op once finished or suspended)."""
        try:
            if self._file is not None:
                self._file.close()
        finally:
            self._file = None
            self.temp_path.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.abort()


@contextmanager
def replaced_whole(target: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``target`` to write a whole file to.  When the block
    succeeds, the file gets the mode a new file would (0666 less the umask; a temporary
    file is created 0600) and is renamed to ``target``; when it fails, it is removed."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".creating", dir=target.parent)
    temporary = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)
        os.close(handle)
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_grid(f: h5py.File, grid: Grid) -> list[h5py.Dataset]:
    """/grid: bounds, cells, periodicity and boundary names as attributes, and one
    dimension-scale dataset of cell centres per axis (returned)."""
    group = f.create_group("grid")
    group.attrs["lower"] = np.asarray(grid.lower, dtype=np.float64)
    group.attrs["upper"] = np.asarray(grid.upper, dtype=np.float64)
    group.attrs["cells"] = np.asarray(grid.cells, dtype=np.int64)
    group.attrs["periodic"] = np.asarray(grid.periodic, dtype=np.int8)
    group.attrs["boundary"] = ["periodic" if p else "noflux" for p in grid.periodic]
    axes = []
    for a in range(grid.ndim):
        axis = group.create_dataset(AXIS_NAMES[a], data=grid.axes[a])
        axis.make_scale(AXIS_NAMES[a])
        describe(axis)
        axes.append(axis)
    return axes


_TEMPORARY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.(?P<kind>creating|partial)")


def temporaries(path: Path, kinds: tuple[str, ...] = (".creating", ".partial")) -> list[tuple[Path, int]]:
    """The temporary files ``.<name>.<pid>.creating|partial`` of writers of ``path``, with pids."""
    found = []
    for candidate in path.parent.glob(f".{path.name}.*"):
        match = _TEMPORARY.fullmatch(candidate.name)
        if match and match["name"] == path.name and f".{match['kind']}" in kinds:
            found.append((candidate, int(match["pid"])))
    return found


def process_alive(pid: int, written: Path | None = None) -> bool:
    """Whether process ``pid`` exists and, where /proc tells, is a Python process that
    started before the file ``written`` was last modified: a pid reused by another program,
    or by a process started since, does not keep a dead run's files alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read()
        started = _process_start_time(pid)
    except (OSError, ValueError, IndexError):
        return True
    if written is not None and started is not None and started > _modified(written) + 1.0:
        return False
    return b"python" in command or b"pdesolve" in command


def _process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from /proc; None elsewhere."""
    with open(f"/proc/{pid}/stat") as handle:
        ticks = int(handle.read().rsplit(")", 1)[1].split()[19])   # field 22, starttime
    with open("/proc/stat") as handle:
        boot = next(int(line.split()[1]) for line in handle if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def _modified(path: Path) -> float:
    """The modification time of ``path`` (0 for a file that is gone)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def temporary_path(path: Path, kind: str) -> Path:
    """This process's temporary name ``.<name>.<pid><kind>`` beside ``path``."""
    return path.parent / f".{path.name}.{os.getpid()}{kind}"


def fsync_file(path: Path) -> None:
    """fsync the file at ``path``: what it holds survives a crash of the machine."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_directory(folder: Path) -> None:
    """fsync a folder, so that a rename inside it survives a crash (where the OS allows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def remove_dead_temporaries(path: Path, kinds: tuple[str, ...] = (".creating", ".partial"),
                            not_after: float | None = None) -> None:
    """Delete the temporary files of ``path`` whose writers are dead (never this process's);
    with ``not_after``, only those last modified at or before that time."""
    for temporary, pid in temporaries(path, kinds):
        if pid == os.getpid() or process_alive(pid, temporary):
            continue
        if not_after is None or _modified(temporary) <= not_after:
            temporary.unlink(missing_ok=True)


def retire_sources(path: Path, source_modified: float) -> None:
    """After a resume whose new file holds its checkpoint durably: delete the partial files
    of dead runs of ``path`` that are not newer than the source resumed from (modified at
    ``source_modified``).  A newer one that could not be read is kept for a later look."""
    remove_dead_temporaries(path, (".partial",), not_after=source_modified)


class OutputTargetError(ValueError):
    """An output path that a run must not write to: one line naming it and why."""


def check_output_target(path: Path, *, force: bool, inputs: tuple[Path, ...] = (),
                        directory: bool = False) -> Path:
    """``path`` if a run may write its result there, checked before any work starts.

    Refused: an existing path without ``force`` (FileExistsError); even with ``force``, one
    of the ``inputs`` (the case file), a special file, a file that is not HDF5 (a result is
    replaced only by a result), or, when ``directory`` (a report folder), an existing
    non-directory; a directory where a result file is wanted; a folder that exists but cannot
    be written to (OutputTargetError).  A report folder is replaced only if it holds a
    report.json and neither the working directory nor an input.  A missing parent folder is
    created by the run."""
    if not directory and (str(path) in ("", ".") or path.is_dir()):
        raise OutputTargetError(f"{path or '.'}: is a directory; give a result file name such as "
                                f"{Path(path) / 'result.h5'}")
    if path.exists() or path.is_symlink():
        resolved = path.resolve()
        if any(resolved == Path(source).resolve() for source in inputs):
            raise OutputTargetError(f"{path}: is the case file of this run; refusing to overwrite it")
        if directory:
            if not path.is_dir():
                raise OutputTargetError(f"{path}: exists and is not a directory; refusing to replace it")
            if Path.cwd().resolve().is_relative_to(resolved) or any(
                    Path(source).resolve().is_relative_to(resolved) for source in inputs):
                raise OutputTargetError(f"{path}: holds the working directory or the case file; "
                                        "refusing to replace it")
            if not (path / "report.json").is_file():
                raise OutputTargetError(f"{path}: is not a report folder (no report.json); "
                                        "refusing to replace it")
        elif not path.is_file():
            raise OutputTargetError(f"{path}: is not a regular file; refusing to write to it")
        elif not h5py.is_hdf5(path):
            raise OutputTargetError(f"{path}: exists and is not an HDF5 result; refusing to overwrite "
                                    "it (remove it or choose another name)")
        if not force:
            raise FileExistsError(f"{path} already exists; use --force to "
                                  f"{'replace' if directory else 'overwrite'} it")
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise OutputTargetError(f"{path}: cannot write in {parent} (not a writable directory)")
    try:   # what the permission bits do not tell (root, read-only or special file systems)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise OutputTargetError(f"{path}: cannot write in {parent} ({err.strerror or err})") from None
    return path
