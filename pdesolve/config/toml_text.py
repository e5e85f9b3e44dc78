"""Writing TOML: a value as ``--set`` reads it back, and a whole validated case with every
default filled in (what ``pdesolve run --dry-run`` shows)."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n"}


def toml_value(value: Any) -> str:
    """``value`` written as a TOML value, so that ``--set key=<text>`` reads it back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                         "inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(ch) or (f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F
                                                  else ch) for ch in value) + '"'
    return str(value)


def case_toml(case) -> str:
    """The validated ``case`` (a :class:`~pdesolve.config.case.Case`) as a TOML case file with
    every key, defaults included; loading it gives the same case."""
    lines = [f"title = {toml_value(case.title)}"]
    if case.description:
        lines.append(f"description = {toml_value(case.description)}")
    for name in ("grid", "potential", "interaction", "dynamics", "initial", "time", "scheme", "output",
                 "particles"):
        section = getattr(case, name)
        table = dict(section) if isinstance(section, Mapping) else {
            field.name: getattr(section, field.name) for field in dataclasses.fields(section)}
        # a schedule of dynamics.alpha as the case file writes it (a number, text or table)
        table = {key: value.as_json() if hasattr(value, "as_json") else value for key, value in table.items()}
        nested = {key: value for key, value in table.items() if isinstance(value, Mapping)}   # dynamics.prior, alpha
        lines += ["", f"[{name}]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()
                  if value is not None and key not in nested]
        for key, value in nested.items():
            lines += ["", f"[{name}.{key}]"] + [f"{k} = {toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"
