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

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..fv.backends import BACKENDS, DIFFUSIONS, IMPLICIT_DIFFUSION_BACKENDS, backend_unavailable
from ..model.grid import AXIS_NAMES
from ..model.initial import DENSITIES, DENSITY_COMMON
from ..model.interaction import INTERACTIONS
from ..model.potentials import POTENTIALS
from ..model.reactions import REACTIONS
from ..model.schedule import CHECK_SAMPLES, Expression, Schedule, ScheduleError, schedule_of
from .expression import ExpressionError, compile_expression
from .schema import (NON_NEGATIVE, POSITIVE, REQUIRED, CaseError, Context, Key, Range, Reader, _as_table,
                     _boolean, _choice, _described, _describe, _did_you_mean, _integer, _read_flat,
                     _read_keys, _read_kinded, _reject_unknown, _scalar_number, _show, _string,
                     number, number_list, per_axis_numbers)

MAX_CELLS = 200_000_000
SECTIONS = ("grid", "potential", "interaction", "dynamics", "initial", "time", "scheme",
            "output", "particles")
REQUIRED_SECTIONS = ("grid", "time")
TOP_LEVEL_KEYS = ("title", "description")
OVERRIDE_SOURCE = "--set"

_OVERRIDE_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,2}")


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
    alpha: Schedule
    tau: float
    transport: bool
    finite_n: int | None
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
    diffusion: str


@dataclass(frozen=True)
class OutputSpec:
    """[output]."""

    path: str
    save_potential: bool
    compression: int
    checkpoint_steps: int
    checkpoint_seconds: float
    diagnostics_every: float | None


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
        dynamics["alpha"] = schedule_of(dynamics["alpha"])
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
    return case_from_text(path, text, overrides)


def case_from_text(path: str | Path, text: str, overrides: Sequence[str] = ()) -> Case:
    """The case whose file ``path`` holds ``text`` (read elsewhere: a sweep sends the text of
    its base case to every worker), with ``overrides`` applied, validated."""
    path = Path(path)
    source = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CaseError(source, "toml", f"not valid TOML: {err}") from None
    except RecursionError:
        raise CaseError(source, "toml", "arrays or tables nested too deeply to read") from None
    try:
        data = validate_case_data(apply_overrides(raw, overrides), source, name=path.stem)
    except RecursionError:
        raise CaseError(source if not overrides else f"{source} with --set", "toml",
                        "a value nested too deeply to read") from None
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


def check_same_run(case: Case, overrides: Sequence[str], attrs: Mapping[str, Any], output) -> None:
    """Refuse (CaseError at --resume) to resume the result ``output``, whose root attributes
    are ``attrs``, unless it was started from the text of ``case`` and --set ``overrides``
    that set the same values (in any order: they are compared by the case they make)."""
    recorded_text = attrs.get("case_text")
    if recorded_text != case.text:
        old, new = str(recorded_text).splitlines(), case.text.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        if line >= max(len(old), len(new)):
            raise CaseError(str(case.path), "--resume",
                            f"{output} was started from a case file that differs from this one only in "
                            "line endings or a final newline")
        recorded = old[line] if line < len(old) else "(end of file)"
        given = new[line] if line < len(new) else "(end of file)"
        raise CaseError(str(case.path), "--resume",
                        f"{output} was started from a different case file: line {line + 1} is "
                        f"{recorded!r} there, {given!r} here")
    recorded = recorded_overrides(attrs)
    raw = tomllib.loads(case.text)
    if apply_overrides(raw, recorded) != apply_overrides(raw, overrides):
        def shown(items):
            return " ".join(f"--set {item}" for item in items) or "no --set overrides"
        raise CaseError(str(case.path), "--resume",
                        f"{output} was started with {shown(recorded)}, not with {shown(overrides)}")


def recorded_overrides(attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The --set overrides a result file records in its root attributes (``overrides``: a
    list, or "" for none)."""
    value = attrs.get("overrides") or ()
    return (value,) if isinstance(value, str) else tuple(value)


def recorded_case(attrs: Mapping[str, Any]) -> Case:
    """The case a result file was run from, read back from its root attributes (case text,
    source and --set overrides); CaseError if they do not make a valid case."""
    return case_from_text(attrs.get("case_source", "case.toml"), attrs.get("case_text", ""),
                          recorded_overrides(attrs))


def _parse_override_value(text: str) -> Any:
    """The TOML value ``text`` denotes, or ``text`` itself when it is not one."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except (tomllib.TOMLDecodeError, RecursionError):
        return text
    return parsed["v"] if parsed.keys() == {"v"} else text


# ---------------------------------------------------------------------------
# The schema, section by section
# ---------------------------------------------------------------------------

_BOUNDARIES = ("noflux", "periodic")


def _read_grid(value: Any, ctx: Context) -> dict:
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
    cells = per_axis_numbers(Range(low=2), integer=True)(table["cells"], "grid.cells", ctx)
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


ALPHA_FORMS = ("a number >= 0", 'an expression in t such as "0.1*exp(-t/50)"',
               "a table { value = A, off_after = T }", "a table { times = [0, t1, ...], values = [a0, a1, ...] }")


def _alpha(bounds: Range) -> Reader:
    """α: a number in ``bounds`` (constant), a string (an expression in t), or a table:
    ``value`` and ``off_after`` (α = value until t = off_after, then 0; read as the table
    below), or ``times`` (from 0, increasing) and ``values`` (α = values[k] from times[k]
    on).  Returned as plain data (a float, the string, {"times": [..], "values": [..]}):
    :class:`Case` makes it a :mod:`~pdesolve.model.schedule`."""
    @partial(_described, type_text="number, expression in t or table", bounds=bounds)
    def read(value, key, ctx):
        return _read_alpha(value, key, ctx, bounds)
    return read


def _read_alpha(value: Any, key: str, ctx: Context, bounds: Range) -> float | str | dict:
    allowed = "; ".join(ALPHA_FORMS)
    if isinstance(value, str):
        text = _string(non_empty=True)(value, key, ctx)
        try:
            compile_expression(text, ("t",))
        except ExpressionError as err:
            ctx.fail(key, f"does not compile: {err}")
        return text
    if isinstance(value, dict):
        shorthand = {"value", "off_after"}
        fields = ("value", "off_after") if shorthand & value.keys() else ("times", "values")
        _reject_unknown(value, key, fields, ctx)
        for name in fields:
            if name not in value:
                ctx.fail(f"{key}.{name}", "missing required key", allowed)
        if fields[0] == "value":
            level = number(NON_NEGATIVE)(value["value"], f"{key}.value", ctx)
            off = number(POSITIVE)(value["off_after"], f"{key}.off_after", ctx)
            return {"times": [0.0, off], "values": [level, 0.0]}
        times = number_list(NON_NEGATIVE)(value["times"], f"{key}.times", ctx)
        levels = number_list(NON_NEGATIVE)(value["values"], f"{key}.values", ctx)
        if len(levels) != len(times):
            ctx.fail(f"{key}.values", f"{len(levels)} values for {len(times)} times", "one value per time")
        if times[0] != 0 or any(b <= a for a, b in zip(times, times[1:])):
            ctx.fail(f"{key}.times", f"{_show(times)} does not start at 0 and strictly increase")
        return {"times": times, "values": levels}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.fail(key, f"expected {ALPHA_FORMS[0]}, a string or a table, got {_describe(value)}", allowed)
    return number(bounds)(value, key, ctx)


_DYNAMICS = {
    "reaction": Key(lambda value, key, ctx: _choice(*REACTIONS)(value, key, ctx), "balanced"),
    "alpha": Key(_alpha(NON_NEGATIVE), 1.0),
    "tau": Key(number(NON_NEGATIVE), 0.0),
    "transport": Key(_boolean, True),
    "finite_n": Key(_integer(Range(low=1))),
}

MAX_OUTPUTS = 1_000_000  # output times of one run (each costs a snapshot and a diagnostics row)

_TIME = {
    "t_end": Key(number(POSITIVE), REQUIRED),
    "cfl": Key(number(Range(low=0, high=1, low_open=True)), 0.5),
    "dt": Key(number(POSITIVE)),
    "outputs": Key(_integer(Range(low=1, high=MAX_OUTPUTS)), 10),
    "times": Key(number_list(NON_NEGATIVE)),
    "max_steps": Key(_integer(Range(low=1)), 10_000_000),
}

def _installed_backend(name: str, key: str, ctx) -> str:
    """``name`` if its backend's package is installed; a case error saying how to install it
    otherwise (before any work starts, not at the first step)."""
    reason = backend_unavailable(name)
    if reason is not None:
        ctx.fail(key, reason)
    return name


_SCHEME = {
    "order": Key(_choice(1, 2), 2),
    "limiter": Key(_choice("minmod", "mc", "extremum"), "mc"),
    "integrator": Key(_choice("ssprk2", "ssprk3"), "ssprk2"),
    "splitting": Key(_choice("strang", "lie"), "strang"),
    "backend": Key(lambda value, key, ctx: _installed_backend(_choice(*BACKENDS)(value, key, ctx),
                                                              key, ctx), "numba"),
    "diffusion": Key(_choice(*DIFFUSIONS), "explicit"),
}

_OUTPUT = {
    "path": Key(_string(non_empty=True), lambda ctx: f"{ctx.name}.h5"),
    "save_potential": Key(_boolean, True),
    "compression": Key(_integer(Range(low=0, high=9)), 4),
    "checkpoint_steps": Key(_integer(NON_NEGATIVE), 0),
    "checkpoint_seconds": Key(number(NON_NEGATIVE), 300.0),
    "diagnostics_every": Key(number(NON_NEGATIVE)),
}

_PARTICLES = {
    "n": Key(_integer(Range(low=1)), 1000),
    "replicates": Key(_integer(Range(low=1)), 1),
    "seed": Key(_integer(NON_NEGATIVE), 0),
    "integrator": Key(_choice("euler", "heun"), "euler"),
    "interaction": Key(_choice("auto", "direct", "mesh"), "auto"),
}

_TOP_LEVEL = {
    "title": Key(_string(non_empty=False), lambda ctx: ctx.name),
    "description": Key(_string(non_empty=False), ""),
}


def _read_density(value: Any, prefix: str, ctx: Context) -> dict:
    return _read_kinded(value, prefix, DENSITIES, "gaussian", ctx, common=DENSITY_COMMON)


def _read_dynamics(value: Any, ctx: Context) -> dict:
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


def _read_time(value: Any, ctx: Context) -> dict:
    """t_end, cfl, dt, outputs, output times (strictly increasing, within [0, t_end])."""
    result = _read_flat(value, "time", _TIME, ctx)
    if result["dt"] is not None and result["t_end"] / result["dt"] > result["max_steps"]:
        ctx.fail("time.dt", f"{result['dt']:g} needs {result['t_end'] / result['dt']:.3g} steps to reach "
                 f"t_end = {result['t_end']:g}, more than time.max_steps = {result['max_steps']}",
                 "dt >= t_end / max_steps")
    times = result["times"]
    if times is not None:
        if len(times) > MAX_OUTPUTS:
            ctx.fail("time.times", f"{len(times)} output times are too many", f"at most {MAX_OUTPUTS}")
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
    ctx = Context(source=source, name=name)
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
    result["potential"] = _read_kinded(data.get("potential", {}), "potential", POTENTIALS,
                                       "none", ctx)
    result["interaction"] = _read_kinded(data.get("interaction", {}), "interaction",
                                         INTERACTIONS, "none", ctx)
    result["dynamics"] = _read_dynamics(data.get("dynamics", {}), ctx)
    result["initial"] = _read_density(data.get("initial", {}), "initial", ctx)
    result["time"] = _read_time(data["time"], ctx)
    alpha = result["dynamics"]["alpha"]
    if isinstance(alpha, str):
        try:
            Expression(alpha).check(result["time"]["t_end"])
        except ScheduleError as err:
            ctx.fail("dynamics.alpha", f"{str(err).removeprefix('alpha = ')} (checked at {CHECK_SAMPLES} "
                     "times in [0, t_end])", "an expression that is finite and >= 0 for 0 <= t <= t_end")
    for section, keys in (("scheme", _SCHEME), ("output", _OUTPUT), ("particles", _PARTICLES)):
        result[section] = _read_flat(data.get(section, {}), section, keys, ctx)
    _check_diffusion(result, ctx)
    return result


def _check_diffusion(result: dict, ctx: Context) -> None:
    """scheme.diffusion = "implicit" needs τ > 0, transport, a fixed time.dt and a backend
    that has the implicit step."""
    scheme = result["scheme"]
    if scheme["diffusion"] != "implicit":
        return
    if not result["dynamics"]["tau"] > 0:
        ctx.fail("scheme.diffusion", "'implicit' steps the diffusion τΔμ and needs dynamics.tau > 0",
                 "'explicit' when tau = 0")
    if not result["dynamics"]["transport"]:
        ctx.fail("scheme.diffusion", "'implicit' steps the transport and diffusion, and dynamics.transport = false "
                 "turns both off", "'explicit' without transport")
    if result["time"]["dt"] is None:
        ctx.fail("time.dt", "missing: scheme.diffusion = 'implicit' is stable for any step, so the step is "
                 "chosen for accuracy, not from time.cfl", "a positive number")
    if scheme["backend"] not in IMPLICIT_DIFFUSION_BACKENDS:
        ctx.fail("scheme.diffusion", f"'implicit' is not available on the {_show(scheme['backend'])} backend",
                 f"'implicit' with backend = {' or '.join(_show(name) for name in IMPLICIT_DIFFUSION_BACKENDS)}, "
                 "or 'explicit'")
