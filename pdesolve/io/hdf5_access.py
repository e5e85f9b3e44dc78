"""Opening an HDF5 file that may be truncated, damaged or left by a killed writer, without hanging.

Two things make a plain ``h5py.File(path, "r", swmr=True)`` unsafe on such a file:

* HDF5 skips its own truncation check in SWMR mode (a live writer may still be extending the
  file), so a short file is read past its end;
* a metadata block whose checksum does not match is re-read up to 100 times in SWMR mode,
  sleeping 1 ns, 2 ns, 4 ns, … in between (the writer may be half-way through it), i.e. for
  about 2¹⁰⁰ ns: the process hangs inside the C library and Python's signal handlers, Ctrl-C
  included, never run.

and, SWMR or not, a damaged file can make the library loop for ever (a flipped byte in a heap
was seen to hang reading a root attribute, in either mode).  `open_hdf5` therefore checks
the end-of-file address stored in the superblock against the file's size first; then reads
the file once in a child process (this file run as a script, importing only h5py) that must
read every attribute and walk every chunk index within `PROBE_SECONDS`, so that the parent's
own reads of the same metadata cannot hang (once per unchanged file and process); and opens
files left open by a writer in SWMR mode with a few metadata read attempts only
(``H5Pset_metadata_read_attempts``, which h5py does not wrap, called on h5py's own HDF5
library through ctypes).  A file that fails any of these raises `DamagedFileError`, one
line naming it.
"""
from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SIGNATURE = b"\x89HDF\r\n\x1a\n"
METADATA_READ_ATTEMPTS = 8  # SWMR reads: total back-off 2⁸ ns instead of 2¹⁰⁰ ns
PROBE_SECONDS = 10.0
DAMAGE_ERRORS = (OSError, KeyError, TypeError)  # what h5py raises reading a damaged file


class ResultFormatError(ValueError):
    """A file that is not a (complete) pdesolve result, or cannot be resumed."""


class DamagedFileError(ResultFormatError):
    """An HDF5 file that is truncated, or whose metadata cannot be read."""


@dataclass(frozen=True)
class Superblock:
    """The two fields of an HDF5 superblock that say whether a file can be trusted as it is."""

    end_of_file: int     # the address one past the file's last byte, as the writer stored it
    writer_flags: int    # file consistency flags: non-zero while (or since) a writer had it open


def read_superblock(path: str | os.PathLike) -> Superblock | None:
    """The superblock of the HDF5 file ``path`` (None: there is none, so not HDF5).

    It sits at byte 0, 512, 1024, 2048, … (after a user block).  Versions 0 and 1 keep the
    consistency flags at byte 20 (4 bytes) and the end-of-file address after 24 (v0) or 28
    (v1) bytes and two other addresses; versions 2 and 3 the flags at byte 11 and the address
    after 12 bytes and two addresses.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size:
            handle.seek(offset)
            block = handle.read(64)
            if block[:8] == SIGNATURE and len(block) > 24:
                if block[8] in (0, 1):
                    width, start = block[13], (24 if block[8] == 0 else 28)
                    flags = int.from_bytes(block[20:24], "little")
                else:
                    width, start, flags = block[9], 12, block[11]
                field = start + 2 * width
                if width not in (2, 4, 8) or len(block) < field + width:
                    return None
                return Superblock(int.from_bytes(block[field:field + width], "little"), flags)
            offset = 512 if offset == 0 else 2 * offset
    return None


@functools.cache
def _set_read_attempts():
    """H5Pset_metadata_read_attempts of the HDF5 library h5py has loaded (None: not found)."""
    try:
        with open("/proc/self/maps") as maps:
            libraries = {line.split()[-1] for line in maps if "/libhdf5" in line}
    except OSError:
        return None
    for library in sorted(libraries):
        if "libhdf5_" in Path(library).name:  # libhdf5_hl and friends
            continue
        function = getattr(ctypes.CDLL(library), "H5Pset_metadata_read_attempts", None)
        if function is not None:
            function.argtypes = [ctypes.c_int64, ctypes.c_uint]
            function.restype = ctypes.c_int
            return function
    return None


def open_hdf5(path: str | os.PathLike, *, swmr: bool = False) -> h5py.File:
    """``path`` opened read-only, refused with DamagedFileError when truncated or unreadable
    instead of hanging.  ``swmr``: the file may have been left open by a writer (running or
    killed); it is opened in SWMR mode if its superblock says so.  ResultFormatError when not
    HDF5 at all, FileNotFoundError when missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        superblock = read_superblock(path)
    except OSError as err:   # not readable by this user, or gone
        raise ResultFormatError(f"{path}: cannot be read ({err.strerror or err})") from None
    if superblock is None:
        raise ResultFormatError(f"{path}: not an HDF5 file (no HDF5 superblock)")
    size = path.stat().st_size
    if size < superblock.end_of_file:
        raise DamagedFileError(f"{path}: truncated HDF5 file ({size} of its {superblock.end_of_file} bytes)")
    swmr = swmr and superblock.writer_flags != 0
    probe_in_child(path, swmr)
    try:
        return _open(path, swmr)
    except DAMAGE_ERRORS as err:
        raise DamagedFileError(f"{path}: cannot be read as HDF5 ({first_line(err)})") from None


def _open(path: Path, swmr: bool) -> h5py.File:
    if not swmr:
        return h5py.File(path, "r")
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    set_attempts = _set_read_attempts()
    if set_attempts is not None:
        set_attempts(fapl.id, METADATA_READ_ATTEMPTS)
    return h5py.File(h5py.h5f.open(os.fsencode(path), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                                   fapl=fapl))


def probe_in_child(path: Path, swmr: bool, seconds: float = PROBE_SECONDS) -> None:
    """Read all metadata of ``path`` (in SWMR mode if ``swmr``) in a child process;
    DamagedFileError if that fails or does not finish within ``seconds``.  A file probed
    before by this process and not changed since (same inode, size and mtime) is not
    probed again."""
    key = _probe_key(path, swmr)
    if key in _probed:
        return
    try:   # -P: not this folder first on sys.path (its module names are not h5py's business)
        child = subprocess.run([sys.executable, "-P", __file__, os.fspath(path), "swmr" if swmr else ""],
                               capture_output=True, text=True, timeout=seconds,
                               stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DamagedFileError(f"{path}: damaged HDF5 file (reading its metadata did not finish "
                               f"within {seconds:g} s)") from None
    except OSError as err:   # no process could be started
        raise ResultFormatError(f"{path}: cannot check it ({err.strerror or err})") from None
    if child.returncode != 0:
        reason = (child.stdout.strip() or child.stderr.strip() or f"exit {child.returncode}")
        raise DamagedFileError(f"{path}: cannot be read as HDF5 ({reason.splitlines()[-1]})")
    _probed.add(key)


_probed: set[tuple] = set()


def _probe_key(path: Path, swmr: bool) -> tuple:
    """What identifies an unchanged file: its path, inode, size and mtime (and the mode)."""
    status = path.stat()
    return os.fspath(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns, swmr


def trust_written(path: Path) -> None:
    """Count ``path``, which this process has just written whole and closed, as probed: reading
    it back in this process (a sweep task's scalars, a plot after a run) starts no child."""
    _probed.add(_probe_key(Path(path), False))


def read_all_metadata(f: h5py.File) -> None:
    """Touch every attribute, every object and every chunk index entry of an open file."""
    def visit(name: str, node) -> None:
        dict(node.attrs)
        if isinstance(node, h5py.Dataset) and node.chunks is not None:
            node.id.chunk_iter(lambda info: None)
    dict(f.attrs)
    f.visititems(visit)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (h5py's are long and nested)."""
    text = str(err.args[0] if isinstance(err, KeyError) and err.args else err)
    return text.splitlines()[0] if text else type(err).__name__



def read_attrs(node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """The HDF5 attributes of a group or dataset as plain Python values."""
    return {key: plain_value(value) for key, value in node.attrs.items()}


def plain_value(value: Any) -> Any:
    """HDF5 attribute value as a Python object: str, int/float/bool, list of str, or ndarray."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in value.tolist()]
    return value

if __name__ == "__main__":  # the child of probe_in_child: exit 0 if the file reads, else 1
    try:
        with _open(Path(sys.argv[1]), swmr=sys.argv[2] == "swmr") as probed:
            read_all_metadata(probed)
    except DAMAGE_ERRORS as failure:
        print(first_line(failure))
        sys.exit(1)
