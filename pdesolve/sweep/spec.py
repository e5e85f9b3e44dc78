"""Sweep files: a base case, the axes to vary, replicates, and the task every point runs.

A sweep file is TOML (keys documented in ``cases/sweeps/README.md``)::

    title = "alpha scan of the mixture case"
    case  = "../mixture_gaussians.toml"    # relative to the sweep file
    task  = "run"                          # run | particles | compare
    set   = ["time.t_end = 5"]             # --set overrides of every task

    [product]                              # every combination of these
    "dynamics.alpha" = [0.0, 1.0, 5.0]

    [zip]                                  # varied together (equal lengths), crossed with [product]
    "grid.cells" = [[64, 48], [128, 96]]
    "time.dt"    = [0.02, 0.01]

    [replicates]                           # particles and compare only
    count = 8                              # replicate r runs with particles.seed = seed + r
    seed  = 0

    [options]                              # the task's command-line options
    n = 1000                               # particles: n, replicates, positions
                                           # compare: ns, replicates, dt

    [thresholds]                           # time at which a diagnostic first falls to each value
    loss = [1e-2, 5e-3]

:func:`load_sweep` returns a :class:`Sweep` whose :attr:`Sweep.tasks` are every point of the
product × zip × replicates, each with the ``--set`` overrides that make its case and the name
of the file it writes.  Problems are one :class:`~pdesolve.config.case.CaseError` line,
``FILE: key: what is wrong (allowed: ...)``, as for case files.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import tomllib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.case import SECTIONS, CaseError, apply_overrides
from ..config.schema import Context, _describe, _did_you_mean, _show
from ..config.toml_text import toml_value

TASK_KINDS = ("run", "particles", "compare")
TOP_LEVEL = ("title", "case", "task", "set", "product", "zip", "replicates", "options", "thresholds")
REPLICATE_KEYS = ("count", "seed")
OPTIONS = {"run": (), "particles": ("n", "replicates", "positions"), "compare": ("ns", "replicates", "dt")}
THRESHOLD_SCALARS = ("loss", "energy", "mass", "min_mu", "l1_change", "dissipation")
MAX_TASKS = 100_000
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")


@dataclass(frozen=True)
class Task:
    """One point of a sweep: its parameters (dotted key → value), replicate, the --set
    overrides that make its case from the base case, and the name of what it writes."""

    index: int
    name: str
    parameters: tuple[tuple[str, Any], ...]
    replicate: int | None
    seed: int | None
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file."""

    path: Path
    text: str
    title: str
    case: Path
    case_text: str
    kind: str
    fixed: tuple[str, ...]            # the --set overrides of every task
    axes: tuple[str, ...]             # [product] keys, then [zip] keys
    product_axes: tuple[str, ...]
    options: Mapping[str, Any]
    thresholds: Mapping[str, tuple[float, ...]]
    tasks: tuple[Task, ...]

    @property
    def suffix(self) -> str:
        """What a task writes: a result file, or a report folder for compare."""
        return "" if self.kind == "compare" else ".h5"

    def target(self, outdir: Path, task: Task) -> Path:
        return Path(outdir) / f"{task.name}{self.suffix}"


def _label_value(value: Any) -> str:
    """A parameter value as it appears in a file name: 0.5, 64x48, true, mc, kind-gaussian-mean-1."""
    if isinstance(value, (list, tuple)):
        return "x".join(_label_value(v) for v in value)
    if isinstance(value, Mapping):
        return "-".join(f"{k}-{_label_value(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, ".12g")
    return str(value)


def _flatten(table: Mapping[str, Any], section: str, ctx: Context, prefix: str = "") -> dict[str, Any]:
    """{"dynamics": {"alpha": [..]}} and {"dynamics.alpha": [..]} alike → {"dynamics.alpha": [..]};
    the same key spelt both ways is refused."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        items = _flatten(value, section, ctx, f"{dotted}.").items() if isinstance(value, dict) else [(dotted, value)]
        for name, values in items:
            if name in flat:
                ctx.fail(f"{section}.{name}", "is given twice (as a dotted key and as a table)")
            flat[name] = values
    return flat


def _read_axes(raw: Any, section: str, ctx: Context) -> dict[str, list]:
    if not isinstance(raw, dict):
        ctx.fail(section, f"expected a table of section.key = [values], got {_describe(raw)}")
    axes = _flatten(raw, section, ctx)
    for key, values in axes.items():
        where = f"{section}.{key}"
        parts = key.split(".")
        if len(parts) < 2 or len(parts) > 3 or not all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts):
            ctx.fail(where, "expected a case key section.key or section.sub.key")
        if parts[0] not in SECTIONS:
            ctx.fail(where, f"unknown case section {parts[0]!r}{_did_you_mean(parts[0], SECTIONS)}",
                     ", ".join(SECTIONS))
        if not isinstance(values, list) or not values:
            ctx.fail(where, f"expected a non-empty array of values, got {_describe(values)}")
        shown = [json.dumps(v, sort_keys=True, default=str) for v in values]
        if len(set(shown)) != len(shown):
            ctx.fail(where, "a value is listed twice")
    return axes


def _count(value: Any, key: str, ctx: Context, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        ctx.fail(key, f"expected an integer, got {_describe(value)}")
    if value < minimum:
        ctx.fail(key, f"{value} is out of range", f"{key.rsplit('.', 1)[-1]} >= {minimum}")
    return value


def _read_options(raw: Any, kind: str, ctx: Context) -> dict[str, Any]:
    if not isinstance(raw, dict):
        ctx.fail("options", f"expected a table, got {_describe(raw)}")
    allowed = OPTIONS[kind]
    options: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"options.{key}"
        if key not in allowed:
            ctx.fail(where, f"not an option of task = {kind!r}{_did_you_mean(key, allowed)}",
                     ", ".join(allowed) or f"none for task = {kind!r}")
        if key == "positions":
            if not isinstance(value, bool):
                ctx.fail(where, f"expected true or false, got {_describe(value)}")
            options[key] = value
        elif key == "ns":
            if not isinstance(value, list) or not value:
                ctx.fail(where, f"expected a non-empty array of particle counts, got {_describe(value)}")
            options[key] = [_count(v, where, ctx, 1) for v in value]
        elif key == "dt":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                ctx.fail(where, f"expected a positive finite number, got {_describe(value)}")
            options[key] = float(value)
        else:   # n, replicates
            options[key] = _count(value, where, ctx, 2 if (kind, key) == ("compare", "replicates") else 1)
    return options


def threshold_name(diagnostic: str, value: float) -> str:
    """The table's name for the time ``diagnostic`` first reaches ``value``: t_loss_le_0.005."""
    return f"t_{diagnostic}_le_{value:.12g}"


def _read_thresholds(raw: Any, ctx: Context) -> dict[str, tuple[float, ...]]:
    if not isinstance(raw, dict):
        ctx.fail("thresholds", f"expected a table of diagnostic = [values], got {_describe(raw)}")
    thresholds = {}
    for key, values in raw.items():
        where = f"thresholds.{key}"
        if key not in THRESHOLD_SCALARS:
            ctx.fail(where, f"not a diagnostic{_did_you_mean(key, THRESHOLD_SCALARS)}",
                     ", ".join(THRESHOLD_SCALARS))
        values = values if isinstance(values, list) else [values]
        if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)
                             for v in values):
            ctx.fail(where, f"expected finite numbers, got {_describe(raw[key])}")
        thresholds[key] = tuple(float(v) for v in values)
        columns = [threshold_name(key, v) for v in thresholds[key]]
        if len(set(columns)) != len(columns):
            ctx.fail(where, "two values give the same column of sweep.nc "
                     f"({Counter(columns).most_common(1)[0][0]}); list each value once")
    return thresholds


# [options] and [replicates] that set what a swept or --set key would: one of them would be ignored
_CONFLICTS = {("particles", "n"): "particles.n", ("particles", "replicates"): "particles.replicates"}


def _check_conflicts(kind: str, keys: Mapping[str, str], options: Mapping[str, Any], seeded: bool,
                     ctx: Context) -> None:
    """Refuse a swept or --set key (``keys``: key → where the sweep file sets it) that the task
    would not use: one an option also sets, ``particles.seed`` with [replicates] seeds, and the
    particle keys compare does not read."""
    for key, where in keys.items():
        if kind == "compare" and key in ("particles.n", "particles.replicates"):
            ctx.fail(where, "compare runs the sizes of options.ns and options.replicates replicates; "
                     "vary those in separate sweeps, or use task = \"particles\"")
        if seeded and key == "particles.seed":
            ctx.fail(where, "the seeds come from [replicates] (seed + r); drop one of the two")
        for (task, option), overridden in _CONFLICTS.items():
            if kind == task and key == overridden and option in options:
                ctx.fail(where, f"options.{option} would override it; drop one of the two")


def _task_names(points: list[tuple[tuple[tuple[str, Any], ...], int | None]]) -> list[str]:
    """``leaf=value`` joined by ``_`` (the whole dotted key where two axes share a leaf),
    ``_r<k>`` for replicate k; ``base`` for a sweep with one point."""
    keys = [key for key, _ in points[0][0]]
    leaves = [key.rsplit(".", 1)[-1] for key in keys]
    labels = [leaf if leaves.count(leaf) == 1 else key for key, leaf in zip(keys, leaves)]
    names = []
    for parameters, replicate in points:
        parts = [f"{label}={_label_value(value)}" for label, (_, value) in zip(labels, parameters)]
        if replicate is not None:
            parts.append(f"r{replicate}")
        name = _NAME_UNSAFE.sub("-", "_".join(parts)) or "base"
        names.append(name.lstrip(".") or "base")
    return names


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate the sweep file ``path`` (the base case is checked to exist; each
    task's case is validated by the caller, so a bad value fails its task, not the sweep)."""
    path = Path(path)
    source = str(path)
    ctx = Context(source=source, name=path.stem)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        ctx.fail("file", "no such file")
    except UnicodeDecodeError as err:
        ctx.fail("file", f"not UTF-8 text ({err.reason} at byte {err.start})")
    except OSError as err:
        ctx.fail("file", f"cannot read ({err.strerror or err})")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        ctx.fail("toml", f"not valid TOML: {err}")
    except RecursionError:
        ctx.fail("toml", "arrays or tables nested too deeply to read")
    for key, value in raw.items():
        if key not in TOP_LEVEL:
            what = "section" if isinstance(value, dict) else "key"
            ctx.fail(key, f"unknown {what}{_did_you_mean(key, TOP_LEVEL)}", ", ".join(TOP_LEVEL))
    if "case" not in raw:
        ctx.fail("case", "missing required key (the base case file, relative to the sweep file)")
    if not isinstance(raw["case"], str) or not raw["case"]:
        ctx.fail("case", f"expected a file name, got {_describe(raw['case'])}")
    case = path.parent / raw["case"]
    try:
        case_text = case.read_text(encoding="utf-8")
    except FileNotFoundError:
        ctx.fail("case", f"{case}: no such case file")
    except UnicodeDecodeError as err:
        ctx.fail("case", f"{case}: not UTF-8 text ({err.reason} at byte {err.start})")
    except OSError as err:
        ctx.fail("case", f"{case}: cannot read the case file ({err.strerror or err})")
    kind = raw.get("task", "run")
    if kind not in TASK_KINDS:
        ctx.fail("task", f"{_show(kind)} is not allowed", ", ".join(TASK_KINDS))
    title = raw.get("title", path.stem)
    if not isinstance(title, str):
        ctx.fail("title", f"expected a string, got {_describe(title)}")
    fixed = raw.get("set", [])
    if not isinstance(fixed, list) or not all(isinstance(item, str) for item in fixed):
        ctx.fail("set", f"expected an array of \"section.key = value\" strings, got {_describe(fixed)}")
    fixed = tuple(fixed)
    try:
        apply_overrides({}, fixed)
    except CaseError as err:
        ctx.fail("set", f"{err.key!r}: {err.message}")

    product = _read_axes(raw.get("product", {}), "product", ctx)
    zipped = _read_axes(raw.get("zip", {}), "zip", ctx)
    for key in product.keys() & zipped.keys():
        ctx.fail(f"zip.{key}", "is also in [product]; an axis is varied once")
    lengths = {len(values) for values in zipped.values()}
    if len(lengths) > 1:
        ctx.fail("zip", "the arrays of [zip] are varied together and need one length, got "
                 + ", ".join(f"{key}: {len(v)}" for key, v in zipped.items()))

    replicates_raw = raw.get("replicates", {})
    if not isinstance(replicates_raw, dict):
        ctx.fail("replicates", f"expected a table with count and seed, got {_describe(replicates_raw)}")
    for key in replicates_raw:
        if key not in REPLICATE_KEYS:
            ctx.fail(f"replicates.{key}", "unknown key", ", ".join(REPLICATE_KEYS))
    count = _count(replicates_raw.get("count", 1), "replicates.count", ctx, 1)
    seed = replicates_raw.get("seed")
    if seed is not None:
        seed = _count(seed, "replicates.seed", ctx, 0)
    if kind == "run" and (count > 1 or seed is not None):
        ctx.fail("replicates", "a grid run is deterministic; replicates and seeds need "
                 "task = \"particles\" or \"compare\"")
    options = _read_options(raw.get("options", {}), kind, ctx)
    thresholds = _read_thresholds(raw.get("thresholds", {}), ctx)
    if thresholds and kind != "run":
        ctx.fail("thresholds", "times to thresholds are read from a grid run's diagnostics; they need "
                 "task = \"run\"")

    axes = (*product, *zipped)
    total = math.prod(len(v) for v in product.values()) * (len(next(iter(zipped.values()))) if zipped else 1) * count
    if total > MAX_TASKS:
        ctx.fail("replicates.count" if count > 1 else "product",
                 f"{total} tasks; at most {MAX_TASKS} are allowed in one sweep")
    replicated = count > 1 or seed is not None
    where = {item.partition("=")[0].strip(): "set" for item in fixed}
    where.update({key: f"{'product' if key in product else 'zip'}.{key}" for key in axes})
    _check_conflicts(kind, where, options, replicated, ctx)
    combos = list(itertools.product(*product.values())) or [()]
    rows = list(zip(*zipped.values())) or [()]
    points = [(tuple(zip(axes, (*combo, *row))), r if replicated else None)
              for combo in combos for row in rows for r in range(count)]
    names = _task_names(points)
    twice, times = Counter(names).most_common(1)[0]
    if times > 1:
        ctx.fail("product", f"two tasks would write the same file {twice!r}; values must differ "
                 "in their file names")
    tasks = []
    for index, ((parameters, replicate), name) in enumerate(zip(points, names)):
        task_seed = None if replicate is None else (seed or 0) + replicate
        overrides = (*fixed, *(f"{key}={toml_value(value)}" for key, value in parameters),
                     *(() if task_seed is None else (f"particles.seed={task_seed}",)))
        tasks.append(Task(index=index, name=name, parameters=parameters, replicate=replicate,
                          seed=task_seed, overrides=overrides))
    return Sweep(path=path, text=text, title=title, case=case, case_text=case_text, kind=kind, fixed=fixed,
                 axes=axes, product_axes=tuple(product), options=options, thresholds=thresholds,
                 tasks=tuple(tasks))

