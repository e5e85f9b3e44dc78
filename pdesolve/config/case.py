"""Case files: read a TOML case, apply ``--set`` overrides, validate it and fill in defaults.

:func:`load_case` returns a :class:`Case`: immutable and typed, one frozen dataclass per
section (documented key by key in ``cases/README.md``), built once.  Defaults are filled in
and every "number or list" key is broadcast to a tuple with one entry per grid axis, so later
stages never look at the raw file again.  The tables whose ``kind`` selects their keys
(``potential``, ``interaction``, ``initial``, ``dynamics.prior``) are :class:`KindSpec`
mappings: read-only, with the kind as an attribute.  :func:`validate_case_data` is the
validator underneath, on the nested dict ``tomllib`` reads.

Every problem is reported as one :class:`CaseError` whose text is one line,
``FILE: key: what is wrong (allowed: ...)``.
"""
from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..fv.backends import BACKENDS
from ..model.reactions import REACTIONS
from .expression import ExpressionError, compile_expression
from ..model.grid import AXIS_NAMES

MAX_CELLS = 200_000_000
SECTIONS = ("grid", "potential", "interaction", "dynamics", "initial", "time", "scheme",
            "output", "particles")
REQUIRED_SECTIONS = ("grid", "time")
TOP_LEVEL_KEYS = ("title", "description")
OVERRIDE_SOURCE = "--set"

_OVERRIDE_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,2}")
_SHOW_LIMIT = 60


class CaseError(Exception):
    """A case that cannot be run: where (``source``, ``key``), why, and what would be allowed."""

    def __init__(self, source: str, key: str, message: str, allowed: str | None = None):
        super().__init__(source, key, message, allowed)
        self.source = source
        self.key = key
        self.message = _one_line(message)
        self.allowed = _one_line(allowed) if allowed else None

    def __str__(self) -> str:
        text = f"{self.source}: {self.key}: {self.message}"
        return f"{text} (allowed: {self.allowed})" if self.allowed else text


def _frozen(value: Any) -> Any:
    """``value`` with every list made a tuple (recursively), so that a section is hashable."""
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


class KindSpec(Mapping):
    """A validated table whose ``kind`` decides its other keys: a read-only mapping of every
    key (``kind`` included) to its value, lists frozen to tuples."""

    def __init__(self, table: Mapping[str, Any]):
        self._table = {name: _frozen(value) for name, value in table.items()}

    @property
    def kind(self) -> str:
        return self._table["kind"]

    def __getitem__(self, name: str) -> Any:
        return self._table[name]

    def __iter__(self):
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __hash__(self) -> int:
        return hash(tuple(self._table.items()))

    def __repr__(self) -> str:
        return f"KindSpec({self._table!r})"


@dataclass(frozen=True)
class GridSpec:
    """[grid]: one entry per axis."""

    lower: tuple[float, ...]
    upper: tuple[float, ...]
    cells: tuple[int, ...]
    boundary: tuple[str, ...]


@dataclass(frozen=True)
class DynamicsSpec:
    """[dynamics]; ``prior`` is the refill density μ_b, present iff the reaction uses one."""

    reaction: str
    alpha: float
    tau: float
    transport: bool
    prior: KindSpec | None


@dataclass(frozen=True)
class TimeSpec:
    """[time]."""

    t_end: float
    cfl: float
    dt: float | None
    outputs: int
    times: tuple[float, ...] | None
    max_steps: int


@dataclass(frozen=True)
class SchemeSpec:
    """[scheme]."""

    order: int
    limiter: str
    integrator: str
    splitting: str
    backend: str


@dataclass(frozen=True)
class OutputSpec:
    """[output]."""

    path: str
    save_potential: bool
    compression: int
    checkpoint_steps: int
    checkpoint_seconds: float


@dataclass(frozen=True)
class ParticlesSpec:
    """[particles]."""

    n: int
    replicates: int
    seed: int
    integrator: str
    interaction: str


_SECTION_TYPES = {"grid": GridSpec, "time": TimeSpec, "scheme": SchemeSpec, "output": OutputSpec,
                  "particles": ParticlesSpec}


@dataclass(frozen=True)
class Case:
    """A validated case: where it came from, its text verbatim, and every section typed."""

    path: Path
    text: str
    title: str
    description: str
    grid: GridSpec
    potential: KindSpec
    interaction: KindSpec
    dynamics: DynamicsSpec
    initial: KindSpec
    time: TimeSpec
    scheme: SchemeSpec
    output: OutputSpec
    particles: ParticlesSpec

    @classmethod
    def from_data(cls, path: str | Path, text: str, data: Mapping[str, Any]) -> Case:
        """The typed case of a dict :func:`validate_case_data` returned."""
        sections = {name: kind(**{key: _frozen(value) for key, value in data[name].items()})
                    for name, kind in _SECTION_TYPES.items()}
        dynamics = dict(data["dynamics"])
        prior = dynamics.pop("prior")
        return cls(path=Path(path), text=text, title=data["title"],
                   description=data["description"], potential=KindSpec(data["potential"]),
                   interaction=KindSpec(data["interaction"]), initial=KindSpec(data["initial"]),
                   dynamics=DynamicsSpec(**dynamics, prior=None if prior is None else KindSpec(prior)),
                   **sections)


def load_case(path: str | Path, overrides: Sequence[str] = ()) -> Case:
    """Read the TOML case file ``path``, apply ``--set`` ``overrides`` in order, validate."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseError(source, "file", "no such file") from None
    except UnicodeDecodeError as err:
        raise CaseError(source, "file",
                        f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise CaseError(source, "file", f"cannot read ({err.strerror or err})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CaseError(source, "toml", f"not valid TOML: {err}") from None
    data = validate_case_data(apply_overrides(raw, overrides), source, name=path.stem)
    return Case.from_data(path, text, data)


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict:
    """A copy of ``data`` with each ``"section.key=value"`` (or ``section.sub.key=value``) set.

    ``value`` is read as a TOML value (``64``, ``[64, 64]``, ``true``, ``"mc"``); text that
    is not valid TOML is taken as a bare string, so ``initial.kind=uniform`` works.
    """
    result = deepcopy(dict(data))
    for override in overrides:
        dotted, sep, value_text = override.partition("=")
        dotted = dotted.strip()
        if not sep or not _OVERRIDE_KEY.fullmatch(dotted):
            raise CaseError(OVERRIDE_SOURCE, override,
                            "expected section.key=value, section.sub.key=value or title=value")
        *tables, leaf = dotted.split(".")
        target = result
        for depth, name in enumerate(tables):
            target = target.setdefault(name, {})
            if not isinstance(target, dict):
                where = ".".join(tables[:depth + 1])
                raise CaseError(OVERRIDE_SOURCE, override, f"{where} is not a table")
        target[leaf] = _parse_override_value(value_text.strip())
    return result


def _parse_override_value(text: str) -> Any:
    """The TOML value ``text`` denotes, or ``text`` itself when it is not one."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text


# ---------------------------------------------------------------------------
# Rendering values in messages
# ---------------------------------------------------------------------------

def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(value: Any) -> str:
    """``value`` written the way a TOML file would write it, shortened if long."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    else:
        text = str(value)
    return text if len(text) <= _SHOW_LIMIT else text[:_SHOW_LIMIT - 3] + "..."


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((int, "integer"), (float, "float"), (str, "string"), (list, "array"),
                       (dict, "table")):
        if isinstance(value, kind):
            return name
    return "date/time"


def _describe(value: Any) -> str:
    return f"{_show(value)} ({_type_name(value)})"


def _did_you_mean(name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    return f", did you mean '{close[0]}'?" if close else ""


# ---------------------------------------------------------------------------
# Validation context, value ranges, key readers
# ---------------------------------------------------------------------------

@dataclass
class _Context:
    """What the readers need to know: where errors go, the case name, the grid read so far."""

    source: str
    name: str
    grid: dict | None = None

    @property
    def dim(self) -> int:
        return len(self.grid["lower"])

    @property
    def variables(self) -> tuple[str, ...]:
        return AXIS_NAMES[:self.dim]

    def fail(self, key: str, message: str, allowed: str | None = None) -> NoReturn:
        raise CaseError(self.source, key, message, allowed)


@dataclass(frozen=True)
class _Range:
    """low < v (or <=) and v < high (or <=); open ends are strict."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self, name: str) -> str:
        """E.g. ``0 < cfl <= 1``, ``alpha >= 0``."""
        low = "" if self.low is None else ">" if self.low_open else ">="
        high = "" if self.high is None else "<" if self.high_open else "<="
        if low and high:
            return f"{self.low:g} {low.replace('>', '<')} {name} {high} {self.high:g}"
        if low:
            return f"{name} {low} {self.low:g}"
        return f"{name} {high} {self.high:g}"


_POSITIVE = _Range(low=0, low_open=True)
_NON_NEGATIVE = _Range(low=0)

_Reader = Callable[[Any, str, _Context], Any]
_REQUIRED = object()


@dataclass(frozen=True)
class _Key:
    """How one key is read: ``read(value, key, ctx)``; ``default`` is passed through ``read``
    (so it is broadcast too), ``_REQUIRED`` makes the key mandatory, ``None`` leaves it None,
    and a callable computes the default from the context."""

    read: _Reader
    default: Any = None


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _check_range(value: int | float, bounds: _Range | None, key: str, ctx: _Context) -> None:
    if bounds is not None and value not in bounds:
        ctx.fail(key, f"{_show(value)} is out of range", bounds.describe(_leaf(key)))


def _scalar_number(value: Any, key: str, ctx: _Context, expected: str, shown: Any) -> float:
    """``value`` as a finite float; ``shown`` is what the error quotes (the whole entry)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(key, f"expected {expected}, got {_describe(shown)}")
    if not math.isfinite(value):
        ctx.fail(key, f"expected a finite number, got {_show(value)}")
    return float(value)


def _scalar_integer(value: Any, key: str, ctx: _Context, expected: str, shown: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(key, f"expected {expected}, got {_describe(shown)}")
    return value


def _number(bounds: _Range | None = None) -> _Reader:
    """A single float."""
    def read(value, key, ctx):
        number = _scalar_number(value, key, ctx, "a number", value)
        _check_range(value, bounds, key, ctx)
        return number
    return read


def _integer(bounds: _Range | None = None) -> _Reader:
    """A single integer (a float such as 64.0 is refused)."""
    def read(value, key, ctx):
        number = _scalar_integer(value, key, ctx, "an integer", value)
        _check_range(number, bounds, key, ctx)
        return number
    return read


def _boolean(value: Any, key: str, ctx: _Context) -> bool:
    if not isinstance(value, bool):
        ctx.fail(key, f"expected true or false, got {_describe(value)}")
    return value


def _string(non_empty: bool) -> _Reader:
    """A string (with ``non_empty``: one that is not blank)."""
    expected = "a non-empty string" if non_empty else "a string"

    def read(value, key, ctx):
        if not isinstance(value, str) or (non_empty and not value.strip()):
            ctx.fail(key, f"expected {expected}, got {_describe(value)}")
        return value
    return read


def _choice(*options: str | int) -> _Reader:
    """One of ``options`` (all strings or all integers; true is not 1)."""
    allowed = ", ".join(str(o) for o in options)
    wants_text = isinstance(options[0], str)

    def read(value, key, ctx):
        right_type = isinstance(value, str) if wants_text else (
            isinstance(value, int) and not isinstance(value, bool))
        if not right_type:
            ctx.fail(key, f"expected {'a string' if wants_text else 'an integer'}, "
                          f"got {_describe(value)}", allowed)
        if value not in options:
            hint = _did_you_mean(value, [str(o) for o in options]) if wants_text else ""
            ctx.fail(key, f"{_show(value)} is not allowed{hint}", allowed)
        return value
    return read


def _per_axis(bounds: _Range | None = None, integer: bool = False) -> _Reader:
    """A number, or a list of one number per grid axis; broadcast to a list of d."""
    def read(value, key, ctx):
        unit = "integer" if integer else "number"
        expected = (f"a{'n' if integer else ''} {unit} or a list of {ctx.dim} "
                    f"{unit}{'s' if ctx.dim > 1 else ''} (one per axis)")
        if isinstance(value, list):
            if len(value) != ctx.dim:
                ctx.fail(key, f"expected {expected}, got a list of {len(value)}")
            items = value
        else:
            items = [value] * ctx.dim
        scalar = _scalar_integer if integer else _scalar_number
        numbers = [scalar(item, key, ctx, expected, value) for item in items]
        for axis, (item, number) in enumerate(zip(items, numbers)):
            if bounds is not None and number not in bounds:
                where = f" on axis {AXIS_NAMES[axis]}" if isinstance(value, list) else ""
                ctx.fail(key, f"{_show(item)}{where} is out of range", bounds.describe(_leaf(key)))
        return numbers
    return read


def _number_list(bounds: _Range | None = None) -> _Reader:
    """A non-empty list of floats, any length."""
    def read(value, key, ctx):
        expected = "a non-empty list of numbers"
        if not isinstance(value, list) or not value:
            ctx.fail(key, f"expected {expected}, got {_describe(value)}")
        numbers = [_scalar_number(item, key, ctx, expected, value) for item in value]
        for index, (item, number) in enumerate(zip(value, numbers)):
            if bounds is not None and number not in bounds:
                ctx.fail(key, f"{_show(item)} (entry {index + 1}) is out of range",
                         bounds.describe(_leaf(key)))
        return numbers
    return read


def _expression(value: Any, key: str, ctx: _Context) -> str:
    """A formula in the axis names; it must compile."""
    text = _string(non_empty=True)(value, key, ctx)
    try:
        compile_expression(text, ctx.variables)
    except ExpressionError as err:
        ctx.fail(key, f"does not compile: {err}")
    return text


def _centers(value: Any, key: str, ctx: _Context) -> list[list[float]]:
    """Mixture centres z̄_i in the d − 1 position axes: a list of points (a number is a
    point when d − 1 = 1); normalised to a list of lists of d − 1 floats."""
    n = ctx.dim - 1
    expected = (f"a non-empty list of centres, each {'a number or ' if n == 1 else ''}"
                f"a list of {n} number{'s' if n > 1 else ''}")
    if not isinstance(value, list) or not value:
        ctx.fail(key, f"expected {expected}, got {_describe(value)}")
    points = []
    for entry in value:
        point = entry if isinstance(entry, list) else [entry] if n == 1 else None
        if point is None or len(point) != n:
            ctx.fail(key, f"expected {expected}, got entry {_describe(entry)}")
        points.append([_scalar_number(v, key, ctx, expected, entry) for v in point])
    return points


# ---------------------------------------------------------------------------
# Reading tables
# ---------------------------------------------------------------------------

def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _as_table(value: Any, key: str, ctx: _Context) -> dict:
    if not isinstance(value, dict):
        ctx.fail(key, f"expected a table, got {_describe(value)}")
    return value


def _reject_unknown(table: Mapping[str, Any], prefix: str, allowed: Sequence[str],
                    ctx: _Context) -> None:
    for name in table:
        if name not in allowed:
            ctx.fail(_join(prefix, name), f"unknown key{_did_you_mean(name, allowed)}",
                     ", ".join(allowed))


def _read_key(table: Mapping[str, Any], prefix: str, name: str, spec: _Key,
              ctx: _Context) -> Any:
    key = _join(prefix, name)
    if name in table:
        return spec.read(table[name], key, ctx)
    if spec.default is _REQUIRED:
        ctx.fail(key, "missing required key")
    if spec.default is None:
        return None
    default = spec.default(ctx) if callable(spec.default) else spec.default
    return spec.read(default, key, ctx)


def _read_keys(table: Mapping[str, Any], prefix: str, keys: Mapping[str, _Key],
               ctx: _Context) -> dict:
    return {name: _read_key(table, prefix, name, spec, ctx) for name, spec in keys.items()}


def _read_flat(value: Any, prefix: str, keys: Mapping[str, _Key], ctx: _Context) -> dict:
    table = _as_table(value, prefix, ctx)
    _reject_unknown(table, prefix, tuple(keys), ctx)
    return _read_keys(table, prefix, keys, ctx)


@dataclass(frozen=True)
class _Kind:
    """The keys one ``kind`` of a table takes, the least grid dimension it needs, and a
    cross-key check run on the values read."""

    keys: Mapping[str, _Key]
    min_dim: int = 1
    check: Callable[[dict, str, _Context], None] | None = None


def _read_kinded(value: Any, prefix: str, kinds: Mapping[str, _Kind], default_kind: str,
                 ctx: _Context, common: Mapping[str, _Key] | None = None) -> dict:
    """A table whose ``kind`` decides which other keys it takes (plus ``common`` ones)."""
    table = _as_table(value, prefix, ctx)
    common = common or {}
    kind = _read_key(table, prefix, "kind", _Key(_choice(*kinds), default_kind), ctx)
    spec = kinds[kind]
    if ctx.dim < spec.min_dim:
        ctx.fail(_join(prefix, "kind"),
                 f"{_show(kind)} needs a grid of dimension >= {spec.min_dim} (positions z on the "
                 f"first axes, output weight c on the last), got dimension {ctx.dim}")
    keys = {**spec.keys, **common}
    allowed = ("kind", *keys)
    for name in table:
        if name not in allowed and any(name in other.keys for other in kinds.values()):
            ctx.fail(_join(prefix, name), f"not a key of kind {_show(kind)}", ", ".join(allowed))
    _reject_unknown(table, prefix, allowed, ctx)
    result = {"kind": kind, **_read_keys(table, prefix, keys, ctx)}
    if spec.check is not None:
        spec.check(result, prefix, ctx)
    return result


# ---------------------------------------------------------------------------
# The schema, section by section
# ---------------------------------------------------------------------------

_BOUNDARIES = ("noflux", "periodic")


def _read_grid(value: Any, ctx: _Context) -> dict:
    """lower, upper: lists of d floats with upper > lower; cells: ints >= 2; boundary."""
    table = _as_table(value, "grid", ctx)
    _reject_unknown(table, "grid", ("lower", "upper", "cells", "boundary"), ctx)
    for name in ("lower", "upper", "cells"):
        if name not in table:
            ctx.fail(f"grid.{name}", "missing required key")
    lower = table["lower"]
    expected = "a list of 1 to 3 numbers (one per axis)"
    if not isinstance(lower, list) or not 1 <= len(lower) <= 3:
        ctx.fail("grid.lower", f"expected {expected}, got {_describe(lower)}")
    lower = [_scalar_number(v, "grid.lower", ctx, expected, lower) for v in lower]
    ctx.grid = {"lower": lower}
    upper = table["upper"]
    expected = f"a list of {ctx.dim} numbers like grid.lower"
    if not isinstance(upper, list) or len(upper) != ctx.dim:
        ctx.fail("grid.upper", f"expected {expected}, got {_describe(upper)}")
    upper = [_scalar_number(v, "grid.upper", ctx, expected, upper) for v in upper]
    for axis, (low, high) in enumerate(zip(lower, upper)):
        if not high > low:
            ctx.fail("grid.upper", f"axis {AXIS_NAMES[axis]}: upper {high:g} does not exceed "
                                   f"lower {low:g} (bounds reversed or empty)", "upper > lower")
    cells = _per_axis(_Range(low=2), integer=True)(table["cells"], "grid.cells", ctx)
    total = math.prod(cells)
    if total > MAX_CELLS:
        ctx.fail("grid.cells", f"{total:,} cells in all is too many",
                 f"at most {MAX_CELLS:,} cells")
    boundary = table.get("boundary", "noflux")
    items = boundary if isinstance(boundary, list) else [boundary] * ctx.dim
    if len(items) != ctx.dim:
        ctx.fail("grid.boundary", f"expected a string or a list of {ctx.dim} strings (one per "
                                  f"axis), got a list of {len(items)}", ", ".join(_BOUNDARIES))
    read_boundary = _choice(*_BOUNDARIES)
    boundary = [read_boundary(item, "grid.boundary", ctx) for item in items]
    ctx.grid = {"lower": lower, "upper": upper, "cells": cells, "boundary": boundary}
    return ctx.grid


def _check_multi_well(values: dict, prefix: str, ctx: _Context) -> None:
    """On a periodic axis F must be periodic too: no tilt, and the period divides the box."""
    for axis, boundary in enumerate(ctx.grid["boundary"]):
        if boundary != "periodic":
            continue
        name = AXIS_NAMES[axis]
        if values["tilt"][axis] != 0:
            ctx.fail(f"{prefix}.tilt", f"{values['tilt'][axis]:g} on periodic axis {name} makes "
                                       "the potential jump at the wrap", "0 on periodic axes")
        length = ctx.grid["upper"][axis] - ctx.grid["lower"][axis]
        period = values["period"][axis]
        ratio = length / period
        if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6 * ratio:
            ctx.fail(f"{prefix}.period", f"{period:g} on periodic axis {name} does not divide the "
                                         f"box length {length:g}", "length / period an integer")


def _check_mixture(values: dict, prefix: str, ctx: _Context) -> None:
    """One variance and one weight per centre."""
    m = len(values["centers"])
    for name in ("variances", "weights"):
        if len(values[name]) != m:
            ctx.fail(f"{prefix}.{name}", f"expected {m} entries, one per entry of "
                                         f"{prefix}.centers, got {len(values[name])}")


_POTENTIALS = {
    "none": _Kind({}),
    "quadratic": _Kind({"center": _Key(_per_axis(), 0.0),
                        "stiffness": _Key(_per_axis(_NON_NEGATIVE), 1.0)}),
    "double_well": _Kind({"center": _Key(_per_axis(), 0.0),
                          "radius": _Key(_number(_POSITIVE), 1.0),
                          "depth": _Key(_number(_NON_NEGATIVE), 1.0)}),
    "multi_well": _Kind({"period": _Key(_per_axis(_POSITIVE), 1.0),
                         "depth": _Key(_number(), 1.0),
                         "tilt": _Key(_per_axis(), 0.0)},
                        check=_check_multi_well),
    "expression": _Kind({"expr": _Key(_expression, _REQUIRED)}),
    "mixture_target": _Kind({"centers": _Key(_centers, _REQUIRED),
                             "variances": _Key(_number_list(_POSITIVE), _REQUIRED),
                             "weights": _Key(_number_list(), _REQUIRED),
                             "unit_variance": _Key(_number(_POSITIVE), 0.5)},
                            min_dim=2, check=_check_mixture),
}

_INTERACTIONS = {
    "none": _Kind({}),
    "gaussian": _Kind({"width": _Key(_number(_POSITIVE), 1.0),
                       "strength": _Key(_number(), 1.0)}),
    "quadratic": _Kind({"strength": _Key(_number(), 1.0)}),
    "expression": _Kind({"expr": _Key(_expression, _REQUIRED)}),
    "neuron": _Kind({"unit_variance": _Key(_number(_POSITIVE), 0.5)}, min_dim=2),
}

_DENSITIES = {
    "gaussian": _Kind({"mean": _Key(_per_axis(), 0.0),
                       "std": _Key(_per_axis(_POSITIVE), 1.0)}),
    "uniform": _Kind({}),
    "expression": _Kind({"expr": _Key(_expression, _REQUIRED)}),
}
_DENSITY_COMMON = {"mass": _Key(_number(_POSITIVE), 1.0)}

_DYNAMICS = {
    "reaction": _Key(_choice(*REACTIONS), "balanced"),
    "alpha": _Key(_number(_NON_NEGATIVE), 1.0),
    "tau": _Key(_number(_NON_NEGATIVE), 0.0),
    "transport": _Key(_boolean, True),
}

_TIME = {
    "t_end": _Key(_number(_POSITIVE), _REQUIRED),
    "cfl": _Key(_number(_Range(low=0, high=1, low_open=True)), 0.5),
    "dt": _Key(_number(_POSITIVE)),
    "outputs": _Key(_integer(_Range(low=1)), 10),
    "times": _Key(_number_list(_NON_NEGATIVE)),
    "max_steps": _Key(_integer(_Range(low=1)), 10_000_000),
}

_SCHEME = {
    "order": _Key(_choice(1, 2), 2),
    "limiter": _Key(_choice("minmod", "mc", "extremum"), "mc"),
    "integrator": _Key(_choice("ssprk2", "ssprk3"), "ssprk2"),
    "splitting": _Key(_choice("strang", "lie"), "strang"),
    "backend": _Key(_choice(*BACKENDS), "numba"),
}

_OUTPUT = {
    "path": _Key(_string(non_empty=True), lambda ctx: f"{ctx.name}.h5"),
    "save_potential": _Key(_boolean, True),
    "compression": _Key(_integer(_Range(low=0, high=9)), 4),
    "checkpoint_steps": _Key(_integer(_NON_NEGATIVE), 0),
    "checkpoint_seconds": _Key(_number(_NON_NEGATIVE), 300.0),
}

_PARTICLES = {
    "n": _Key(_integer(_Range(low=1)), 1000),
    "replicates": _Key(_integer(_Range(low=1)), 1),
    "seed": _Key(_integer(_NON_NEGATIVE), 0),
    "integrator": _Key(_choice("euler", "heun"), "euler"),
    "interaction": _Key(_choice("auto", "direct", "mesh"), "auto"),
}

_TOP_LEVEL = {
    "title": _Key(_string(non_empty=False), lambda ctx: ctx.name),
    "description": _Key(_string(non_empty=False), ""),
}


def _read_density(value: Any, prefix: str, ctx: _Context) -> dict:
    return _read_kinded(value, prefix, _DENSITIES, "gaussian", ctx, common=_DENSITY_COMMON)


def _read_dynamics(value: Any, ctx: _Context) -> dict:
    """reaction, alpha, tau, transport, and the prior μ_b (a density like [initial]) iff
    the reaction is a reinjection."""
    table = _as_table(value, "dynamics", ctx)
    _reject_unknown(table, "dynamics", (*_DYNAMICS, "prior"), ctx)
    result = _read_keys(table, "dynamics", _DYNAMICS, ctx)
    reinjection = REACTIONS[result["reaction"]].uses_prior
    if reinjection and "prior" not in table:
        ctx.fail("dynamics.prior", f"missing required table: reaction = {_show(result['reaction'])} "
                                   "refills lost mass from this prior density")
    if not reinjection and "prior" in table:
        users = " or ".join(_show(name) for name, entry in REACTIONS.items() if entry.uses_prior)
        ctx.fail("dynamics.prior", f"only used with reaction = {users}, not {_show(result['reaction'])}")
    result["prior"] = _read_density(table["prior"], "dynamics.prior", ctx) if reinjection else None
    return result


def _read_time(value: Any, ctx: _Context) -> dict:
    """t_end, cfl, dt, outputs, output times (strictly increasing, within [0, t_end])."""
    result = _read_flat(value, "time", _TIME, ctx)
    times = result["times"]
    if times is not None:
        if any(b <= a for a, b in zip(times, times[1:])):
            ctx.fail("time.times", f"{_show(times)} is not strictly increasing")
        if times[-1] > result["t_end"]:
            ctx.fail("time.times", f"{times[-1]:g} is after t_end = {result['t_end']:g}",
                     "0 <= times <= t_end")
    return result


def validate_case_data(data: dict, source: str, *, name: str = "case") -> dict:
    """Validate a case given as a nested dict (as ``tomllib`` reads it) and fill defaults.

    ``source`` names the case in error messages (a file name, or e.g. ``"<dict>"``);
    ``name`` is the default ``title`` and the stem of the default ``output.path``.
    The grid is read first, since it fixes the dimension d every other section uses.
    Returns a new dict with every section present; ``data`` is not modified.
    """
    ctx = _Context(source=source, name=name)
    allowed = (*SECTIONS, *TOP_LEVEL_KEYS)
    for key, value in data.items():
        if key not in allowed:
            what = "section" if isinstance(value, dict) else "key"
            ctx.fail(key, f"unknown {what}{_did_you_mean(key, allowed)}", ", ".join(allowed))
    for section in REQUIRED_SECTIONS:
        if section not in data:
            ctx.fail(section, "missing required section")
    result = _read_keys(data, "", _TOP_LEVEL, ctx)
    result["grid"] = _read_grid(data["grid"], ctx)
    result["potential"] = _read_kinded(data.get("potential", {}), "potential", _POTENTIALS,
                                       "none", ctx)
    result["interaction"] = _read_kinded(data.get("interaction", {}), "interaction",
                                         _INTERACTIONS, "none", ctx)
    result["dynamics"] = _read_dynamics(data.get("dynamics", {}), ctx)
    result["initial"] = _read_density(data.get("initial", {}), "initial", ctx)
    result["time"] = _read_time(data["time"], ctx)
    for section, keys in (("scheme", _SCHEME), ("output", _OUTPUT), ("particles", _PARTICLES)):
        result[section] = _read_flat(data.get(section, {}), section, keys, ctx)
    return result
