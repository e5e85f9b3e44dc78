"""The case-file reference tables of ``cases/README.md``, generated from the registries.

    python -m pdesolve.config.reference           check that cases/README.md is current
    python -m pdesolve.config.reference --write   rewrite its generated tables

Each generated table sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``;
everything else in the file is written by hand.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from ..model.initial import DENSITIES, DENSITY_COMMON
from ..model.interaction import INTERACTIONS
from ..model.potentials import POTENTIALS
from ..model.reactions import REACTIONS
from .schema import REQUIRED, Key, Kind, Range, _show

REFERENCE = Path(__file__).resolve().parents[1] / "cases" / "README.md"


def _range_text(bounds: Range | None) -> str:
    """E.g. ``> 0``, ``≥ 0`` (empty without bounds)."""
    if bounds is None:
        return ""
    parts = []
    if bounds.low is not None:
        parts.append(f"{'>' if bounds.low_open else '≥'} {bounds.low:g}")
    if bounds.high is not None:
        parts.append(f"{'<' if bounds.high_open else '≤'} {bounds.high:g}")
    return ", ".join(parts)


def key_text(name: str, key: Key) -> str:
    """``name`` symbol (type, default, range) as the kind tables write a key."""
    details = [getattr(key.read, "type_text", "")]
    if key.default is REQUIRED:
        details.append("required")
    elif isinstance(key.default, (int, float)) and not isinstance(key.default, bool):
        details.append(f"{key.default:g}")
    elif key.default is not None:
        details.append(_show(key.default))
    details.append(_range_text(getattr(key.read, "bounds", None)))
    symbol = f" {key.symbol}" if key.symbol else ""
    return f"`{name}`{symbol} ({', '.join(d for d in details if d)})"


def kind_table(registry: Mapping[str, Kind], default: str, formula: str) -> list[str]:
    """| kind | keys (type, default) | formula | rows of one registry."""
    lines = [f"| kind | keys (type, default) | {formula} |", "|---|---|---|"]
    for name, kind in registry.items():
        label = f'`"{name}"`' + (" (default)" if name == default else "")
        if kind.min_dim > 1:
            label += f" (d ≥ {kind.min_dim})"
        keys = ", ".join(key_text(k, key) for k, key in kind.keys.items()) or "—"
        lines.append(f"| {label} | {keys} | {kind.doc} |")
    return lines


def reaction_table() -> list[str]:
    """| reaction | α R(μ) | mass | rows of the reaction registry."""
    lines = ["| reaction | α R(μ) | mass |", "|---|---|---|"]
    for name, reaction in REACTIONS.items():
        mass = "conserved" if reaction.conserves_mass else "not conserved"
        lines.append(f'| `"{name}"` | {reaction.doc} | {mass} |')
    return lines


def tables() -> dict[str, list[str]]:
    """Every generated table, by name."""
    return {
        "potential kinds": kind_table(POTENTIALS, "none", "F(θ)"),
        "interaction kinds": kind_table(INTERACTIONS, "none", "K(θ, θ')"),
        "reactions": reaction_table(),
        "initial kinds": kind_table(DENSITIES, "gaussian", "μ₀(θ) ∝"),
        "density common keys": ["Every kind also takes " + ", ".join(
            key_text(name, key) for name, key in DENSITY_COMMON.items()) + "."],
    }


def rewritten(text: str) -> str:
    """``text`` with every generated table replaced by its current version."""
    for name, lines in tables().items():
        pattern = re.compile(rf"(<!-- generated: {re.escape(name)} -->\n).*?(<!-- end: {re.escape(name)} -->)",
                             re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"{REFERENCE.name} has no generated section {name!r}")
        text = pattern.sub(lambda m: m.group(1) + "\n".join(lines) + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated tables")
    args = parser.parse_args(argv)
    text = REFERENCE.read_text(encoding="utf-8")
    current = rewritten(text)
    if args.write:
        REFERENCE.write_text(current, encoding="utf-8")
        return 0
    if current != text:
        print(f"{REFERENCE} is out of date: run python -m pdesolve.config.reference --write",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
