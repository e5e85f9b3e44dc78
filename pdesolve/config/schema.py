"""The machinery of the case schema: one-line errors, value ranges, key readers, tables.

A :class:`Key` says how one case-file key is read (a reader, a default, a symbol for the
reference); a :class:`Kind` is the set of keys one ``kind`` of a table takes, with its formula
and, in the model's registries (potentials, kernels, initial densities), the builder of the
object it describes.  Readers raise :class:`CaseError`, one line naming the file and the key.
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn

from ..model.grid import AXIS_NAMES
from .expression import ExpressionError, compile_expression

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
class Context:
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
class Range:
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


POSITIVE = Range(low=0, low_open=True)
NON_NEGATIVE = Range(low=0)

Reader = Callable[[Any, str, Context], Any]
REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """How one key is read: ``read(value, key, ctx)``; ``default`` is passed through ``read``
    (so it is broadcast too), ``REQUIRED`` makes the key mandatory, ``None`` leaves it None,
    and a callable computes the default from the context."""

    read: Reader
    default: Any = None
    symbol: str = ""  # the letter the formulas use for it, in the reference tables


def _leaf(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _check_range(value: int | float, bounds: Range | None, key: str, ctx: Context) -> None:
    if bounds is not None and value not in bounds:
        ctx.fail(key, f"{_show(value)} is out of range", bounds.describe(_leaf(key)))


def _scalar_number(value: Any, key: str, ctx: Context, expected: str, shown: Any) -> float:
    """``value`` as a finite float; ``shown`` is what the error quotes (the whole entry)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(key, f"expected {expected}, got {_describe(shown)}")
    if not math.isfinite(value):
        ctx.fail(key, f"expected a finite number, got {_show(value)}")
    return float(value)


def _scalar_integer(value: Any, key: str, ctx: Context, expected: str, shown: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(key, f"expected {expected}, got {_describe(shown)}")
    return value


def _described(read: Reader, type_text: str, bounds: Range | None = None) -> Reader:
    """``read`` with what the reference tables print: its type and its range."""
    read.type_text = type_text
    read.bounds = bounds
    return read


def number(bounds: Range | None = None) -> Reader:
    """A single float."""
    @partial(_described, type_text="number", bounds=bounds)
    def read(value, key, ctx):
        number = _scalar_number(value, key, ctx, "a number", value)
        _check_range(value, bounds, key, ctx)
        return number
    return read


def _integer(bounds: Range | None = None) -> Reader:
    """A single integer (a float such as 64.0 is refused)."""
    def read(value, key, ctx):
        number = _scalar_integer(value, key, ctx, "an integer", value)
        _check_range(number, bounds, key, ctx)
        return number
    return read


def _boolean(value: Any, key: str, ctx: Context) -> bool:
    if not isinstance(value, bool):
        ctx.fail(key, f"expected true or false, got {_describe(value)}")
    return value


def _string(non_empty: bool) -> Reader:
    """A string (with ``non_empty``: one that is not blank)."""
    expected = "a non-empty string" if non_empty else "a string"

    def read(value, key, ctx):
        if not isinstance(value, str) or (non_empty and not value.strip()):
            ctx.fail(key, f"expected {expected}, got {_describe(value)}")
        return value
    return read


def _choice(*options: str | int) -> Reader:
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


def per_axis_numbers(bounds: Range | None = None, integer: bool = False) -> Reader:
    """A number, or a list of one number per grid axis; broadcast to a list of d."""
    @partial(_described, type_text=f"{'integer' if integer else 'number'} or list", bounds=bounds)
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


def number_list(bounds: Range | None = None) -> Reader:
    """A non-empty list of floats, any length."""
    @partial(_described, type_text="list of numbers", bounds=bounds)
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


def expression(value: Any, key: str, ctx: Context) -> str:
    """A formula in the axis names; it must compile."""
    text = _string(non_empty=True)(value, key, ctx)
    try:
        compile_expression(text, ctx.variables)
    except ExpressionError as err:
        ctx.fail(key, f"does not compile: {err}")
    return text


def centers(value: Any, key: str, ctx: Context) -> list[list[float]]:
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


expression.type_text = "string"
expression.bounds = None
centers.type_text = "list of centres"
centers.bounds = None


# ---------------------------------------------------------------------------
# Reading tables
# ---------------------------------------------------------------------------

def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _as_table(value: Any, key: str, ctx: Context) -> dict:
    if not isinstance(value, dict):
        ctx.fail(key, f"expected a table, got {_describe(value)}")
    return value


def _reject_unknown(table: Mapping[str, Any], prefix: str, allowed: Sequence[str],
                    ctx: Context) -> None:
    for name in table:
        if name not in allowed:
            ctx.fail(_join(prefix, name), f"unknown key{_did_you_mean(name, allowed)}",
                     ", ".join(allowed))


def _read_key(table: Mapping[str, Any], prefix: str, name: str, spec: Key,
              ctx: Context) -> Any:
    key = _join(prefix, name)
    if name in table:
        return spec.read(table[name], key, ctx)
    if spec.default is REQUIRED:
        ctx.fail(key, "missing required key")
    if spec.default is None:
        return None
    default = spec.default(ctx) if callable(spec.default) else spec.default
    return spec.read(default, key, ctx)


def _read_keys(table: Mapping[str, Any], prefix: str, keys: Mapping[str, Key],
               ctx: Context) -> dict:
    return {name: _read_key(table, prefix, name, spec, ctx) for name, spec in keys.items()}


def _read_flat(value: Any, prefix: str, keys: Mapping[str, Key], ctx: Context) -> dict:
    table = _as_table(value, prefix, ctx)
    _reject_unknown(table, prefix, tuple(keys), ctx)
    return _read_keys(table, prefix, keys, ctx)


@dataclass(frozen=True)
class Kind:
    """One ``kind`` of a table: the keys it takes, the least grid dimension it needs, a
    cross-key check run on the values read, the formula it stands for (``doc``, for the
    reference tables) and ``build``, which makes the model object from a table with every
    key present (a registry decides its arguments)."""

    keys: Mapping[str, Key]
    min_dim: int = 1
    check: Callable[[dict, str, Context], None] | None = None
    doc: str = ""
    build: Callable[..., Any] | None = None

    def complete(self, family: str, spec: Mapping[str, Any],
                 common: Mapping[str, Key] | None = None) -> dict[str, Any]:
        """``spec`` (a validated table, or one written by hand for the Python API) with the
        defaults of the keys it leaves out; ValueError for a missing required key or an
        unknown one."""
        keys = {**self.keys, **(common or {})}
        kind = spec.get("kind")
        if unknown := sorted(set(spec) - {"kind"} - set(keys)):
            raise ValueError(f"{family} of kind {kind!r} does not take {unknown}")
        values = {}
        for name, key in keys.items():
            if name in spec:
                values[name] = spec[name]
            elif key.default is REQUIRED:
                raise ValueError(f"{family} of kind {kind!r} needs the key {name!r}")
            else:
                values[name] = key.default
        return values


def kind_of(family: str, registry: Mapping[str, Kind], spec: Mapping[str, Any]) -> Kind:
    """The registry entry of ``spec["kind"]``; ValueError naming the allowed kinds."""
    kind = spec.get("kind")
    if kind not in registry:
        raise ValueError(f"unknown {family} kind {kind!r} (allowed: {', '.join(registry)})")
    return registry[kind]


def _read_kinded(value: Any, prefix: str, kinds: Mapping[str, Kind], default_kind: str,
                 ctx: Context, common: Mapping[str, Key] | None = None) -> dict:
    """A table whose ``kind`` decides which other keys it takes (plus ``common`` ones)."""
    table = _as_table(value, prefix, ctx)
    common = common or {}
    kind = _read_key(table, prefix, "kind", Key(_choice(*kinds), default_kind), ctx)
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
