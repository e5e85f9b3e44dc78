"""An XDMF sidecar for a 2-D or 3-D grid result: ParaView (and any VTK-based reader) opens it
as a time series of the density μ (and V when saved) on the case grid.

    pdesolve export OUT.h5 --xdmf [-o OUT.xdmf]

The sidecar is XDMF 2 XML that points into the result file: a temporal collection with one
uniform grid per snapshot, a ``3DCoRectMesh`` topology (origin and spacing of the cell
corners; a 2-D grid as one layer of cells), and μ, V as cell-centred attributes read as
hyperslabs of
``/snapshots/mu`` and ``/snapshots/V``.  Nothing is copied, so the result file must stay
beside it (the path is stored relative to the sidecar).

Axis order: pdesolve stores the case's last axis fastest, and VTK's X is its fastest axis,
so ParaView's X, Y(, Z) are the case's last, ..., first axis (3-D: X = z, Y = y, Z = x; 2-D:
X = y, Y = x, in the plane Z = 0).  Reversing the axes is a reflection: ParaView shows the
mirror image of what ``pdesolve plot`` draws (labelled with ParaView's axis names).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from .atomic import OutputTargetError, replaced_whole
from ..model.grid import Grid
from .grid_result import open_result, read_grid, snapshot_count


@dataclass(frozen=True)
class SnapshotLayout:
    """What the sidecar describes of a result: its grid, snapshot times and stored fields."""

    grid: Grid
    times: np.ndarray
    fields: dict[str, tuple[int, ...]]   # name in /snapshots -> dataset shape


def read_layout(result: Path) -> SnapshotLayout:
    """The :class:`SnapshotLayout` of a 2-D or 3-D grid result with at least one snapshot;
    ValueError (or ResultFormatError) naming the file otherwise."""
    with open_result(result, allow_incomplete=True) as f:
        grid = read_grid(f)
        if grid.ndim not in (2, 3):
            raise ValueError(f"{result}: a {grid.ndim}-D result; XDMF export is for 2-D and 3-D results")
        count = snapshot_count(f)
        if count == 0:
            raise ValueError(f"{result}: no snapshot yet: nothing to export")
        return SnapshotLayout(grid, f["snapshots/time"][:count],
                              {name: f["snapshots"][name].shape for name in ("mu", "V") if name in f["snapshots"]})


def xdmf_document(layout: SnapshotLayout, relative_path: str) -> ET.ElementTree:
    """The XDMF tree of a result of ``layout``, referring to its file as ``relative_path``."""
    grid, times, stored = layout.grid, layout.times, layout.fields
    d = grid.ndim
    # A 2-D grid is written as one layer of a 3-D one (a leading axis of one cell, of the
    # smallest spacing), so that the image lies in VTK's XY plane and not in YZ.
    layer = () if d == 3 else (1,)
    cells = " ".join(str(c) for c in (*layer, *grid.cells))
    nodes = " ".join(str(c + 1) for c in (*layer, *grid.cells))
    # VTK reads origin and spacing in the order of Dimensions (slowest axis first)
    origin = " ".join(repr(float(v)) for v in ((0.0,) if layer else ()) + tuple(grid.lower))
    spacing = " ".join(repr(float(h)) for h in ((min(grid.spacing),) if layer else ()) + tuple(grid.spacing))
    root = ET.Element("Xdmf", Version="2.0")
    domain = ET.SubElement(root, "Domain")
    series = ET.SubElement(domain, "Grid", Name="pdesolve", GridType="Collection", CollectionType="Temporal")
    for i, t in enumerate(times):
        step = ET.SubElement(series, "Grid", Name=f"snapshot {i}", GridType="Uniform")
        ET.SubElement(step, "Time", Value=repr(float(t)))
        ET.SubElement(step, "Topology", TopologyType="3DCoRectMesh", Dimensions=nodes)
        geometry = ET.SubElement(step, "Geometry", GeometryType="ORIGIN_DXDYDZ")
        for values in (origin, spacing):
            item = ET.SubElement(geometry, "DataItem", Dimensions="3", NumberType="Float", Precision="8",
                                 Format="XML")
            item.text = values
        for name, shape in stored.items():
            attribute = ET.SubElement(step, "Attribute", Name=name, AttributeType="Scalar", Center="Cell")
            slab = ET.SubElement(attribute, "DataItem", ItemType="HyperSlab", Dimensions=cells, Type="HyperSlab")
            # start, stride and count in the dataset (snapshot, *cells): snapshot i, every cell
            selection = ET.SubElement(slab, "DataItem", Dimensions=f"3 {d + 1}", Format="XML")
            selection.text = " ".join((f"{i}" + " 0" * d, "1" + " 1" * d,
                                       "1 " + " ".join(str(c) for c in grid.cells)))
            source = ET.SubElement(slab, "DataItem", Dimensions=" ".join(map(str, shape)), NumberType="Float",
                                   Precision="8", Format="HDF")
            source.text = f"{relative_path}:/snapshots/{name}"
    ET.indent(root)
    return ET.ElementTree(root)


def export_xdmf(result: str | os.PathLike, target: str | os.PathLike | None = None, *,
                force: bool = False) -> Path:
    """Write the XDMF sidecar of ``result`` to ``target`` (default: the result's name with
    ``.xdmf``), atomically; refused (OutputTargetError) over an existing file unless ``force``."""
    result = Path(result)
    if result.is_dir():
        raise ValueError(f"{result}: is a directory, not a result file")
    if result.name.endswith(".partial"):
        raise ValueError(f"{result}: is the partial file of a running or killed run, renamed when it "
                         "finishes; export the result once the run (or its --resume) is done")
    layout = read_layout(result)   # the result is checked before the target
    target = Path(target) if target is not None else result.with_suffix(".xdmf")
    if target.suffix != ".xdmf":
        raise OutputTargetError(f"-o {target}: an XDMF file must end in .xdmf")
    if target.exists() or target.is_symlink():
        if not target.is_file():
            raise OutputTargetError(f"{target}: is not a regular file; refusing to write to it")
        with open(target, "rb") as existing:
            head = existing.read(4096)
        if b"<Xdmf" not in head:
            raise OutputTargetError(f"{target}: exists and is not an XDMF file; refusing to overwrite it")
        if not force:
            raise FileExistsError(f"{target} already exists; use --force to overwrite it")
    if not target.parent.is_dir():
        raise OutputTargetError(f"-o {target}: the folder {target.parent} does not exist")
    relative = os.path.relpath(result.resolve(), target.resolve().parent)
    document = xdmf_document(layout, relative)
    with replaced_whole(target) as temporary:
        document.write(temporary, encoding="utf-8", xml_declaration=True)
    return target
