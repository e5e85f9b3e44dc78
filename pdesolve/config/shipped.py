"""The case files shipped with pdesolve (``pdesolve/cases``, package data): list them, copy one.

    pdesolve cases                  one line per case: name, grid, title
    pdesolve cases NAME [-o DIR]    copy NAME.toml into DIR (default: the current directory)
"""
from __future__ import annotations

import difflib
import tomllib
from importlib import resources
from pathlib import Path

from ..io.atomic import replaced_whole


class ShippedCaseError(ValueError):
    """An unknown case name, or a copy that would overwrite a file."""


def shipped_cases() -> dict[str, Path]:
    """{name: path} of every shipped case file, by name."""
    folder = resources.files("pdesolve") / "cases"
    return {Path(entry.name).stem: Path(str(entry)) for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".toml")}


def case_line(name: str, path: Path, width: int) -> str:
    """``name  d-D cells  title`` of one shipped case."""
    data = tomllib.loads(path.read_text())
    cells = data.get("grid", {}).get("cells", [])
    grid = f"{len(cells)}-D {'×'.join(str(c) for c in cells)}"
    return f"{name:<{width}}  {grid:<14}  {data.get('title', '')}"


def listing() -> list[str]:
    """The lines ``pdesolve cases`` prints."""
    cases = shipped_cases()
    width = max(map(len, cases), default=0)
    return [case_line(name, path, width) for name, path in cases.items()]


def copy_case(name: str, folder: Path, *, force: bool = False) -> Path:
    """Copy the shipped case ``name`` (with or without ``.toml``) to ``folder/NAME.toml``,
    atomically; ShippedCaseError for an unknown name or an existing target without ``force``."""
    cases = shipped_cases()
    stem = name[:-5] if name.endswith(".toml") else name
    if stem not in cases:
        close = difflib.get_close_matches(stem, list(cases), n=1)
        hint = f", did you mean '{close[0]}'?" if close else ""
        raise ShippedCaseError(f"{name}: no such shipped case{hint} (allowed: {', '.join(cases)})")
    if not folder.is_dir():
        raise ShippedCaseError(f"-o {folder}: not a directory")
    target = folder / f"{stem}.toml"
    if target.exists() and not force:
        raise ShippedCaseError(f"{target}: exists; use --force to overwrite it")
    with replaced_whole(target) as temporary:
        temporary.write_bytes(cases[stem].read_bytes())
    return target
