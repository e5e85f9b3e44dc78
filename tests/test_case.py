"""Case files: loading, defaults, broadcasting, --set overrides and one-line errors."""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from pdesolve.config.case import (SECTIONS, CaseError, apply_overrides, load_case,
                           validate_case_data)

CASES_DIR = Path(__file__).resolve().parent.parent / "cases"
CASE_FILES = sorted(CASES_DIR.glob("*.toml"))

MINIMAL = """
[grid]
lower = [-1.0, -2.0]
upper = [1.0, 2.0]
cells = [8, 16]

[time]
t_end = 1.0
"""


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def case_1d(body: str = "", grid: str = "lower = [-5.0]\nupper = [5.0]\ncells = [32]",
            time: str = "t_end = 1.0") -> str:
    return f"[grid]\n{grid}\n\n[time]\n{time}\n\n{body}\n"


def case_2d(body: str = "", time: str = "t_end = 1.0") -> str:
    return case_1d(body, grid="lower = [-4.0, -6.0]\nupper = [4.0, 6.0]\ncells = [16, 12]",
                   time=time)


# ---------------------------------------------------------------------------------------
# The shipped case files


def test_there_are_case_files():
    assert {p.stem for p in CASE_FILES} >= {
        "gaussian_1d", "birth_death_2d", "gaussian_kernel_3d", "periodic_2d",
        "mixture_gaussians", "mixture_gaussians_bad_start", "mixture_gaussians_reinjection",
        "mixture_gaussians_2d"}


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_every_case_file_loads_complete(path):
    case = load_case(path)
    assert case.path == path
    assert case.text == path.read_text(encoding="utf-8")
    assert case.text.startswith("# "), "each case file opens with a comment header"
    assert all(getattr(case, section) is not None for section in SECTIONS)
    d = len(case.grid.lower)
    assert 1 <= d <= 3
    for key in ("upper", "cells", "boundary"):
        assert len(getattr(case.grid, key)) == d
    assert case.output.path == f"{path.stem}.h5"
    assert case.title and case.title != path.stem


def test_case_files_are_the_requested_problems():
    load = {p.stem: validate_case_data(tomllib.loads(p.read_text()), str(p), name=p.stem)
            for p in CASE_FILES}
    g1 = load["gaussian_1d"]
    assert g1["grid"] == {"lower": [-5.0], "upper": [5.0], "cells": [400], "boundary": ["noflux"]}
    assert g1["potential"] == {"kind": "quadratic", "center": [0.0], "stiffness": [1.0]}
    assert g1["initial"]["mean"] == [1.0] and g1["initial"]["std"] == [0.5]
    assert g1["dynamics"]["reaction"] == "balanced" and g1["dynamics"]["alpha"] == 1.0
    assert g1["time"]["t_end"] == 1.0
    assert load["birth_death_2d"]["grid"]["cells"] == [128, 128]
    assert load["gaussian_kernel_3d"]["grid"]["cells"] == [48, 48, 48]
    assert load["gaussian_kernel_3d"]["interaction"]["kind"] == "gaussian"
    periodic = load["periodic_2d"]
    assert periodic["grid"]["boundary"] == ["periodic", "periodic"]
    assert periodic["dynamics"]["tau"] == 0.05
    mixture = load["mixture_gaussians"]
    assert mixture["potential"]["centers"] == [[-2.0], [0.0], [2.0]]
    assert mixture["potential"]["weights"] == [1.0, -2.0, 1.0]
    assert mixture["interaction"] == {"kind": "neuron", "unit_variance": 0.5}
    assert load["mixture_gaussians_bad_start"]["initial"]["std"] == [0.2, 0.2]
    reinjection = load["mixture_gaussians_reinjection"]["dynamics"]
    assert reinjection["reaction"] == "reinjection"
    assert reinjection["prior"]["std"] == [2.0, 0.05]


# ---------------------------------------------------------------------------------------
# Defaults, broadcasting, overrides


def test_defaults_are_filled(tmp_path):
    data = validate_case_data(tomllib.loads(MINIMAL), "tiny_run.toml", name="tiny_run")
    assert data["title"] == "tiny_run" and data["description"] == ""
    assert data["grid"]["boundary"] == ["noflux", "noflux"]
    assert data["potential"] == {"kind": "none"}
    assert data["interaction"] == {"kind": "none"}
    assert data["dynamics"] == {"reaction": "balanced", "alpha": 1.0, "tau": 0.0,
                                "transport": True, "finite_n": None, "prior": None}
    assert data["initial"] == {"kind": "gaussian", "mean": [0.0, 0.0], "std": [1.0, 1.0],
                               "mass": 1.0}
    assert data["time"] == {"t_end": 1.0, "cfl": 0.5, "dt": None, "outputs": 10,
                            "times": None, "max_steps": 10_000_000}
    assert data["scheme"] == {"order": 2, "limiter": "mc", "integrator": "ssprk2",
                              "splitting": "strang", "backend": "numba", "diffusion": "explicit"}
    assert data["output"] == {"path": "tiny_run.h5", "save_potential": True, "compression": 4,
                              "checkpoint_steps": 0, "checkpoint_seconds": 300.0, "diagnostics_every": None}
    assert data["particles"] == {"n": 1000, "replicates": 1, "seed": 0, "integrator": "euler",
                                 "interaction": "auto"}


@pytest.mark.parametrize("kind, expected", [
    ("quadratic", {"center": [0.0, 0.0], "stiffness": [1.0, 1.0]}),
    ("double_well", {"center": [0.0, 0.0], "radius": 1.0, "depth": 1.0}),
    ("multi_well", {"period": [1.0, 1.0], "depth": 1.0, "tilt": [0.0, 0.0]}),
])
def test_potential_defaults_per_kind(kind, expected):
    data = validate_case_data({"grid": {"lower": [0, 0], "upper": [1, 1], "cells": 4},
                               "time": {"t_end": 1}, "potential": {"kind": kind}}, "<dict>")
    assert data["potential"] == {"kind": kind, **expected}


def test_scalars_are_broadcast_to_one_entry_per_axis():
    data = validate_case_data({
        "grid": {"lower": [0, 0, 0], "upper": [1, 2, 3], "cells": 4, "boundary": "periodic"},
        "time": {"t_end": 2},
        "potential": {"kind": "quadratic", "center": 0.5, "stiffness": [1, 2, 3]},
        "initial": {"mean": [0.1, 0.2, 0.3], "std": 0.25},
    }, "<dict>")
    assert data["grid"]["lower"] == [0.0, 0.0, 0.0] and data["grid"]["upper"] == [1.0, 2.0, 3.0]
    assert all(type(v) is float for v in data["grid"]["lower"])
    assert data["grid"]["cells"] == [4, 4, 4]
    assert data["grid"]["boundary"] == ["periodic"] * 3
    assert data["potential"]["center"] == [0.5, 0.5, 0.5]
    assert data["potential"]["stiffness"] == [1.0, 2.0, 3.0]
    assert data["initial"]["std"] == [0.25, 0.25, 0.25]
    assert data["output"]["path"] == "case.h5" and data["title"] == "case"


def test_mixture_centers_are_normalised_to_lists():
    data = validate_case_data({
        "grid": {"lower": [-1, -1, -1], "upper": [1, 1, 1], "cells": 4},
        "time": {"t_end": 1},
        "potential": {"kind": "mixture_target", "centers": [[0, 1], [1, 0]],
                      "variances": [0.5, 1], "weights": [1, -1]},
    }, "<dict>")
    assert data["potential"] == {"kind": "mixture_target", "centers": [[0.0, 1.0], [1.0, 0.0]],
                                 "variances": [0.5, 1.0], "weights": [1.0, -1.0],
                                 "unit_variance": 0.5}


def test_validation_does_not_modify_its_input():
    raw = {"grid": {"lower": [0], "upper": [1], "cells": 4}, "time": {"t_end": 1}}
    validate_case_data(raw, "<dict>")
    assert raw == {"grid": {"lower": [0], "upper": [1], "cells": 4}, "time": {"t_end": 1}}


def test_overrides_are_applied_before_validation(tmp_path):
    path = write(tmp_path, MINIMAL)
    case = load_case(path, [
        "grid.cells=[32, 64]", "time.t_end = 2.5", "initial.kind=uniform",
        "scheme.limiter=\"minmod\"", "output.save_potential=false", "title=My run",
        "dynamics.reaction=reinjection", "dynamics.prior.std=[2.0, 0.05]",
        "time.times=[0.5, 1.0]"])
    assert case.grid.cells == (32, 64)
    assert case.time.t_end == 2.5 and case.time.times == (0.5, 1.0)
    assert dict(case.initial) == {"kind": "uniform", "mass": 1.0}
    assert case.scheme.limiter == "minmod"
    assert case.output.save_potential is False
    assert case.title == "My run"
    assert case.dynamics.prior.kind == "gaussian"
    assert dict(case.dynamics.prior) == {"kind": "gaussian", "mean": (0.0, 0.0),
                                         "std": (2.0, 0.05), "mass": 1.0}
    assert case.text == MINIMAL, "the text stays the file's, verbatim"


def test_apply_overrides_copies_and_parses_values():
    raw = {"grid": {"cells": [8]}}
    out = apply_overrides(raw, ["grid.cells=16", "potential.expr=x**2 + 1", "time.t_end=1e-3"])
    assert raw == {"grid": {"cells": [8]}}
    assert out == {"grid": {"cells": 16}, "potential": {"expr": "x**2 + 1"},
                   "time": {"t_end": 0.001}}


def test_overridden_value_is_validated_against_the_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(CaseError) as info:
        load_case(path, ["time.cfl=2"])
    assert (info.value.source, info.value.key) == (str(path), "time.cfl")


# ---------------------------------------------------------------------------------------
# Errors: one class of bad input per case, each with its exact key and a one-line message

BAD_FILES = [
    # id, file text, expected key, fragment of the message, fragment of `allowed` (or None)
    ("unparsable-toml", "[grid\nlower = [0]\n", "toml", "line 1", None),
    ("unknown-section", MINIMAL + "\n[grdi]\ncells = 3\n", "grdi",
     "unknown section, did you mean 'grid'?", "grid, potential"),
    ("unknown-top-level-key", 'titel = "x"\n' + MINIMAL, "titel",
     "unknown key, did you mean 'title'?", "title, description"),
    ("section-not-a-table", "grid = 3\n[time]\nt_end = 1\n", "grid", "expected a table", None),
    ("missing-section", "[grid]\nlower = [0]\nupper = [1]\ncells = 4\n", "time",
     "missing required section", None),
    ("missing-key", case_1d(time="cfl = 0.5"), "time.t_end", "missing required key", None),
    ("missing-grid-key", "[grid]\nlower = [0]\ncells = 4\n[time]\nt_end = 1\n", "grid.upper",
     "missing required key", None),
    ("missing-expr", case_1d('[potential]\nkind = "expression"'), "potential.expr",
     "missing required key", None),
    ("bool-is-not-a-number", case_1d("[dynamics]\ntau = true"), "dynamics.tau",
     "expected a number, got true (boolean)", None),
    ("bool-is-not-an-integer", case_1d(grid="lower = [0]\nupper = [1]\ncells = true"),
     "grid.cells", "got true (boolean)", None),
    ("string-for-number", case_1d(time='t_end = "1"'), "time.t_end",
     "expected a number, got '1' (string)", None),
    ("not-finite", case_1d(time="t_end = nan"), "time.t_end", "finite", None),
    ("dimension-too-high", case_1d(grid="lower = [0, 0, 0, 0]\nupper = [1, 1, 1, 1]\ncells = 4"),
     "grid.lower", "list of 1 to 3 numbers", None),
    ("dimension-zero", case_1d(grid="lower = []\nupper = []\ncells = 4"),
     "grid.lower", "list of 1 to 3 numbers", None),
    ("bounds-reversed", case_1d(grid="lower = [0, 1]\nupper = [1, 0]\ncells = 4"),
     "grid.upper", "axis y: upper 0 does not exceed lower 1", "upper > lower"),
    ("upper-length", case_1d(grid="lower = [0, 0]\nupper = [1]\ncells = 4"),
     "grid.upper", "list of 2 numbers like grid.lower", None),
    ("too-few-cells", case_1d(grid="lower = [0, 0]\nupper = [1, 1]\ncells = [8, 1]"),
     "grid.cells", "1 on axis y is out of range", "cells >= 2"),
    ("non-integer-cells", case_1d(grid="lower = [0]\nupper = [1]\ncells = [2.5]"),
     "grid.cells", "expected an integer", None),
    ("too-many-cells", case_1d(grid="lower = [0, 0, 0]\nupper = [1, 1, 1]\ncells = 600"),
     "grid.cells", "216,000,000 cells in all is too many", "at most 200,000,000 cells"),
    ("cfl-zero", case_1d(time="t_end = 1\ncfl = 0"), "time.cfl", "0 is out of range",
     "0 < cfl <= 1"),
    ("cfl-above-one", case_1d(time="t_end = 1\ncfl = 1.5"), "time.cfl", "1.5 is out of range",
     "0 < cfl <= 1"),
    ("alpha-negative", case_1d("[dynamics]\nalpha = -1"), "dynamics.alpha",
     "-1 is out of range", "alpha >= 0"),
    ("tau-negative", case_1d("[dynamics]\ntau = -0.1"), "dynamics.tau",
     "-0.1 is out of range", "tau >= 0"),
    ("std-not-positive", case_1d("[initial]\nstd = 0"), "initial.std", "0 is out of range",
     "std > 0"),
    ("list-length-not-d", case_2d("[initial]\nmean = [0, 0, 0]"), "initial.mean",
     "a list of 2 numbers (one per axis), got a list of 3", None),
    ("compression-range", case_1d("[output]\ncompression = 10"), "output.compression",
     "10 is out of range", "0 <= compression <= 9"),
    ("particles-n", case_1d("[particles]\nn = 0"), "particles.n", "0 is out of range", "n >= 1"),
    ("enum", case_1d('[scheme]\nlimiter = "minmd"'), "scheme.limiter",
     "'minmd' is not allowed, did you mean 'minmod'?", "minmod, mc"),
    ("enum-integer", case_1d("[scheme]\norder = 3"), "scheme.order", "3 is not allowed", "1, 2"),
    ("enum-per-axis", case_1d(grid='lower = [0]\nupper = [1]\ncells = 4\nboundary = ["open"]'),
     "grid.boundary", "'open' is not allowed", "noflux, periodic"),
    ("unknown-kind", case_1d('[potential]\nkind = "harmonic"'), "potential.kind",
     "'harmonic' is not allowed", "none, quadratic, double_well"),
    ("key-of-another-kind", case_1d('[interaction]\nkind = "quadratic"\nwidth = 1.0'),
     "interaction.width", "not a key of kind 'quadratic'", "kind, strength"),
    ("key-of-no-kind", case_1d('[potential]\nkind = "quadratic"\nstifness = 2.0'),
     "potential.stifness", "unknown key, did you mean 'stiffness'?", "kind, center, stiffness"),
    ("expression-syntax", case_1d('[potential]\nkind = "expression"\nexpr = "x +* 2"'),
     "potential.expr", "does not compile", None),
    ("expression-variable", case_1d('[initial]\nkind = "expression"\nexpr = "exp(-y**2)"'),
     "initial.expr", "does not compile", None),
    ("expression-kernel", case_2d('[interaction]\nkind = "expression"\nexpr = "import os"'),
     "interaction.expr", "does not compile", None),
    ("kind-needs-2d", case_1d('[interaction]\nkind = "neuron"'), "interaction.kind",
     "'neuron' needs a grid of dimension >= 2", None),
    ("mixture-needs-2d", case_1d('[potential]\nkind = "mixture_target"\ncenters = [0]\n'
                                 'variances = [1]\nweights = [1]'),
     "potential.kind", "'mixture_target' needs a grid of dimension >= 2", None),
    ("mixture-lengths", case_2d('[potential]\nkind = "mixture_target"\ncenters = [-2, 0, 2]\n'
                                'variances = [0.5, 1]\nweights = [1, -2, 1]'),
     "potential.variances", "expected 3 entries, one per entry of potential.centers", None),
    ("mixture-center-shape", case_2d('[potential]\nkind = "mixture_target"\n'
                                     'centers = [[0, 1]]\nvariances = [1]\nweights = [1]'),
     "potential.centers", "each a number or a list of 1 number,", None),
    ("prior-missing", case_2d('[dynamics]\nreaction = "reinjection"'), "dynamics.prior",
     "missing required table", None),
    ("prior-forbidden", case_2d('[dynamics]\nreaction = "balanced"\n[dynamics.prior]\nstd = 1'),
     "dynamics.prior", "only used with reaction = 'reinjection'", None),
    ("prior-checked-like-initial",
     case_2d('[dynamics]\nreaction = "reinjection"\n[dynamics.prior]\nstd = [1, -1]'),
     "dynamics.prior.std", "-1 on axis y is out of range", "std > 0"),
    ("times-after-t-end", case_1d(time="t_end = 1\ntimes = [0.5, 2.0]"), "time.times",
     "2 is after t_end = 1", "0 <= times <= t_end"),
    ("times-negative", case_1d(time="t_end = 1\ntimes = [-0.5, 0.5]"), "time.times",
     "-0.5 (entry 1) is out of range", "times >= 0"),
    ("times-not-increasing", case_1d(time="t_end = 1\ntimes = [0.5, 0.5]"), "time.times",
     "not strictly increasing", None),
    ("periodic-tilt", case_1d('[potential]\nkind = "multi_well"\ntilt = 0.1',
                              grid='lower = [0]\nupper = [2]\ncells = 8\nboundary = "periodic"'),
     "potential.tilt", "on periodic axis x makes the potential jump", "0 on periodic axes"),
    ("periodic-period", case_1d('[potential]\nkind = "multi_well"\nperiod = 0.75',
                                grid='lower = [0]\nupper = [2]\ncells = 8\nboundary = "periodic"'),
     "potential.period", "0.75 on periodic axis x does not divide the box length 2",
     "length / period an integer"),
]


def check_one_line(err: CaseError, source: str, key: str, fragment: str, allowed: str | None):
    text = str(err)
    assert "\n" not in text
    assert (err.source, err.key) == (source, key)
    assert text.startswith(f"{source}: {key}: ")
    assert fragment in err.message
    if allowed is None:
        assert err.allowed is None
    else:
        assert allowed in err.allowed
        assert text.endswith(f" (allowed: {err.allowed})")


@pytest.mark.parametrize("text, key, fragment, allowed", [b[1:] for b in BAD_FILES],
                         ids=[b[0] for b in BAD_FILES])
def test_bad_file_gives_one_line_error(tmp_path, text, key, fragment, allowed):
    path = write(tmp_path, text)
    with pytest.raises(CaseError) as info:
        load_case(path)
    check_one_line(info.value, str(path), key, fragment, allowed)


def test_unknown_key_message_is_exact(tmp_path):
    path = write(tmp_path, "[grid]\nlower = [0]\nupper = [1]\ncels = 4\n[time]\nt_end = 1\n")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert str(info.value) == (f"{path}: grid.cels: unknown key, did you mean 'cells'? "
                               "(allowed: lower, upper, cells, boundary)")


def test_toml_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, MINIMAL + "\n[scheme]\norder 2\n")
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert info.value.key == "toml"
    assert "line 11, column" in info.value.message and "\n" not in str(info.value)


@pytest.mark.parametrize("make, fragment", [
    (lambda tmp: tmp / "absent.toml", "no such file"),
    (lambda tmp: tmp, "cannot read"),
    (lambda tmp: (tmp / "latin1.toml", (tmp / "latin1.toml").write_bytes(b"title = '\xe9'\n"))[0],
     "not UTF-8 text"),
])
def test_unreadable_file(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(CaseError) as info:
        load_case(path)
    check_one_line(info.value, str(path), "file", fragment, None)


@pytest.mark.parametrize("override, fragment", [
    ("grid.cells64", "expected section.key=value"),
    ("=3", "expected section.key=value"),
    ("a.b.c.d=1", "expected section.key=value"),
    ("grid..cells=3", "expected section.key=value"),
    ("grid.cells.x=3", "grid.cells is not a table"),
])
def test_bad_override_syntax(tmp_path, override, fragment):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(CaseError) as info:
        load_case(path, [override])
    check_one_line(info.value, "--set", override, fragment, None)


def test_override_of_unknown_key_is_reported_with_did_you_mean(tmp_path):
    path = write(tmp_path, MINIMAL)
    with pytest.raises(CaseError) as info:
        load_case(path, ["grid.cels=4"])
    check_one_line(info.value, str(path), "grid.cels", "did you mean 'cells'?", "lower, upper")


def test_grid_is_validated_first(tmp_path):
    text = case_1d('[potential]\nkind = "nonsense"', grid="lower = [0]\nupper = [1]\ncells = 1")
    with pytest.raises(CaseError) as info:
        load_case(write(tmp_path, text))
    assert info.value.key == "grid.cells"


def test_dict_source_in_messages():
    with pytest.raises(CaseError) as info:
        validate_case_data({"grid": {"lower": [0], "upper": [1], "cells": 4},
                            "time": {"t_end": -1}}, "<dict>")
    check_one_line(info.value, "<dict>", "time.t_end", "-1 is out of range", "t_end > 0")


def test_case_error_formatting():
    err = CaseError("f.toml", "a.b", "bad\nthing", "x, y")
    assert str(err) == "f.toml: a.b: bad thing (allowed: x, y)"
    assert str(CaseError("f.toml", "a.b", "bad")) == "f.toml: a.b: bad"


# --- every bounded key, at and just beyond each end of its range ---------------------------

from pdesolve.config import case as case_module  # noqa: E402
from pdesolve.model.initial import DENSITIES, DENSITY_COMMON  # noqa: E402
from pdesolve.model.interaction import INTERACTIONS  # noqa: E402
from pdesolve.model.potentials import POTENTIALS  # noqa: E402

_FILLERS = {"expr": "x", "centers": [0.0], "variances": [1.0], "weights": [1.0]}


def _bounded_keys():
    """(dotted key, kind table or None, _Range, integer?, list?) for every key whose reader
    checks a range, found by walking the schema tables, so a new key is covered too."""
    tables = [("dynamics", None, case_module._DYNAMICS), ("time", None, case_module._TIME),
              ("output", None, case_module._OUTPUT), ("particles", None, case_module._PARTICLES)]
    for section, kinds in (("potential", POTENTIALS), ("interaction", INTERACTIONS),
                           ("initial", DENSITIES), ("dynamics.prior", DENSITIES)):
        for kind, spec in kinds.items():
            keys = dict(spec.keys)
            if section in ("initial", "dynamics.prior"):
                keys.update(DENSITY_COMMON)
            tables.append((section, kind, keys))
    found = []
    for section, kind, keys in tables:
        for name, spec in keys.items():
            cells = dict(zip(spec.read.__code__.co_freevars,
                             (c.cell_contents for c in spec.read.__closure__ or ())))
            bounds = cells.get("bounds")
            if bounds is not None:
                integer = cells.get("integer", spec.read.__qualname__.startswith("_integer"))
                listed = spec.read.__qualname__.startswith("number_list")
                found.append((f"{section}.{name}", kind, bounds, integer, listed))
    return found


def _probe_values(bounds, integer):
    """(value, accepted?) at and just beyond each finite end of ``bounds``."""
    probes = []
    for end, is_open, outward in ((bounds.low, bounds.low_open, -1), (bounds.high, bounds.high_open, +1)):
        if end is None:
            continue
        if integer:
            probes += [(int(end), not is_open), (int(end) + outward, False)]
        else:
            beyond = math.nextafter(end, outward * math.inf)
            inward = math.nextafter(end, -outward * math.inf)
            probes += [(float(end), not is_open), (beyond, False), (inward, True)]
    return probes


BOUNDED = _bounded_keys()


def test_the_schema_walk_finds_the_bounded_keys():
    keys = {key for key, *_ in BOUNDED}
    assert {"time.times", "time.cfl", "time.dt", "dynamics.alpha", "output.compression",
            "initial.std", "dynamics.prior.mass", "potential.radius"} <= keys
    assert len(BOUNDED) >= 25


@pytest.mark.parametrize("key, kind, bounds, integer, listed", BOUNDED,
                         ids=[f"{k}[{kind}]" if kind else k for k, kind, *_ in BOUNDED])
def test_every_bounded_key_accepts_its_range_and_refuses_beyond_it(key, kind, bounds, integer, listed):
    for value, accepted in _probe_values(bounds, integer):
        data = {"grid": {"lower": [-1.0, -1.0], "upper": [1.0, 1.0], "cells": [8, 8]},
                "time": {"t_end": 2.0}}
        *path, leaf = key.split(".")
        table = data
        for name in path:
            table = table.setdefault(name, {})
        if key.startswith("dynamics.prior"):
            data["dynamics"]["reaction"] = "reinjection"
        if key == "time.dt":   # so that no dt in its range needs more than max_steps steps
            data["time"]["t_end"] = 5e-324
        if kind is not None:
            table["kind"] = kind
            spec = dict({"potential": POTENTIALS, "interaction": INTERACTIONS}
                        .get(path[0], DENSITIES)[kind].keys)
            table.update({k: v for k, v in _FILLERS.items() if k in spec and k != leaf})
        table[leaf] = [value] if listed else value
        if kind == "mixture_target":
            data["interaction"] = {"kind": "neuron"}
        try:
            validate_case_data(data, "range.toml")
        except CaseError as err:
            assert not accepted, f"{key} = {value!r} refused: {err}"
            assert err.key == key and "is out of range" in err.message, str(err)
            assert err.allowed == bounds.describe(leaf)
        else:
            assert accepted, f"{key} = {value!r} accepted, outside {bounds.describe(leaf)}"


@pytest.mark.parametrize("cells, accepted", [(2, True), (1, False), (0, False)])
def test_grid_cells_range(cells, accepted):
    data = {"grid": {"lower": [0.0], "upper": [1.0], "cells": [cells]}, "time": {"t_end": 1.0}}
    if accepted:
        assert validate_case_data(data, "c.toml")["grid"]["cells"] == [cells]
    else:
        with pytest.raises(CaseError, match="grid.cells: .* is out of range"):
            validate_case_data(data, "c.toml")


def test_resume_compares_overrides_by_the_case_they_make(tmp_path):
    """--resume accepts the recorded --set overrides in any order or spelling that sets the
    same values, and says what the file recorded when they differ."""
    from pdesolve.config.case import check_same_run
    path = tmp_path / "case.toml"
    path.write_text('[grid]\nlower = [0.0]\nupper = [1.0]\ncells = [16]\n[time]\nt_end = 1.0\n')
    recorded = {"case_text": path.read_text(), "overrides": ["time.t_end=2", "grid.cells=[8]"]}
    for given in (("grid.cells=[8]", "time.t_end=2"), ("time.t_end=2.0", "grid.cells=[8]"),
                  ("time.t_end=5", "grid.cells=[8]", "time.t_end=2")):
        check_same_run(load_case(path, given), given, recorded, "out.h5")
    given = ("grid.cells=[8]",)
    with pytest.raises(CaseError, match=r"out.h5 was started with --set time.t_end=2 --set grid.cells=\[8\], "
                                        r"not with --set grid.cells=\[8\]"):
        check_same_run(load_case(path, given), given, recorded, "out.h5")
    with pytest.raises(CaseError, match="different case file: line 6 is 't_end = 0.5' there, 't_end = 1.0' here"):
        check_same_run(load_case(path), (), {"case_text": recorded["case_text"].replace("1.0\n", "0.5\n")},
                       "out.h5")


def test_a_time_step_too_small_to_reach_t_end_is_refused_before_the_run():
    data = {"grid": {"lower": [0.0], "upper": [1.0], "cells": [8]}, "time": {"t_end": 2.0, "dt": 1e-300}}
    with pytest.raises(CaseError, match=r"time.dt: 1e-300 needs 2e\+300 steps to reach t_end = 2, more "
                                        r"than time.max_steps = 10000000 \(allowed: dt >= t_end / max_steps\)"):
        validate_case_data(data, "c.toml")
    data["time"].update(dt=1e-3, max_steps=2000)
    validate_case_data(data, "c.toml")
    data["time"]["max_steps"] = 1999
    with pytest.raises(CaseError, match="time.dt"):
        validate_case_data(data, "c.toml")


def test_output_times_have_an_upper_bound():
    data = {"grid": {"lower": [0.0], "upper": [1.0], "cells": [8]}, "time": {"t_end": 2.0, "outputs": 10 ** 9}}
    with pytest.raises(CaseError, match=r"time.outputs: 1000000000 is out of range \(allowed: 1 <= outputs <= 1e\+06\)"):
        validate_case_data(data, "c.toml")


def test_a_deeply_nested_case_file_is_one_line_naming_it(tmp_path):
    path = tmp_path / "nested.toml"
    path.write_text("[grid]\nlower = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(CaseError, match="nested.toml: toml: arrays or tables nested too deeply to read"):
        load_case(path)
    path.write_text("[grid]\nlower = [0.0]\nupper = [1.0]\ncells = [8]\n[time]\nt_end = 1.0\n")
    with pytest.raises(CaseError, match="grid.lower: expected a list"):
        load_case(path, ["grid.lower=" + "[" * 5000 + "]" * 5000])


def test_a_case_differing_only_in_line_endings_is_named_so(tmp_path):
    from pdesolve.config.case import check_same_run
    path = tmp_path / "case.toml"
    path.write_text('[grid]\nlower = [0.0]\nupper = [1.0]\ncells = [16]\n[time]\nt_end = 1.0\n')
    with pytest.raises(CaseError, match="differs from this one only in line endings or a final newline"):
        check_same_run(load_case(path), (), {"case_text": path.read_text().rstrip("\n")}, "out.h5")
