"""What the validation scripts share: their command line and the fitted order of a study.

Every script takes ``--quick`` (a smoke-test version, run by the test suite) and
``--outdir`` (where its table and figures go; default: this folder).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent


def script_arguments(doc: str, quick_help: str, argv: list[str] | None = None, *,
                     jobs: bool = False) -> argparse.Namespace:
    """Parse a validation script's command line (``doc``: its module docstring, whose first
    line is the description); ``jobs`` adds ``--jobs`` (worker processes, default 2).  The
    output folder is created."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--outdir", type=Path, default=FOLDER)
    if jobs:
        parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = parser.parse_args(argv)
    args.outdir.mkdir(parents=True, exist_ok=True)
    return args


def network_losses(case, times):
    """The grid run of a neuron-form ``case``: (setup, solver at the last time, the loss
    ½‖f − f_μ‖² = E + ½‖f‖² at each of ``times``)."""
    from pdesolve import Solver, build_setup, energy

    setup = build_setup(case)
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    losses = []
    for t in times:
        solver.advance(t)
        losses.append(energy(solver) + setup.problem.loss_offset)
    return setup, solver, np.array(losses)


def first_time_below(times, values, threshold: float) -> float:
    """The first of ``times`` where ``values`` ≤ ``threshold`` (inf if none)."""
    below = np.flatnonzero(np.asarray(values) <= threshold)
    return float(times[below[0]]) if below.size else float("inf")


def fitted_order(spacings, errors) -> float:
    """Least-squares slope of log(error) against log(spacing): the measured order."""
    return float(np.polyfit(np.log(spacings), np.log(errors), 1)[0])
