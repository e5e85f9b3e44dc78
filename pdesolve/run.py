"""A grid run of a case from start to result file: build, integrate, observe, write."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import diagnostics
from .build import Setup, build_setup
from .case import Case
from .output import ResultWriter
from .solver import Solver


class NumericalFault(RuntimeError):
    """The state stopped being a density: NaN/Inf or negative values beyond round-off."""


@dataclass(frozen=True)
class RunSummary:
    """What a finished run reports: where the result is and how the invariants fared."""

    output: Path
    steps: int
    wall_time: float
    t_end: float
    mass_initial: float
    mass_final: float
    energy_initial: float
    energy_final: float
    loss_final: float | None

    @property
    def mass_drift(self) -> float:
        """(M_end − M_0) / M_0."""
        return (self.mass_final - self.mass_initial) / self.mass_initial

    def as_attrs(self) -> dict:
        attrs = {k: v for k, v in self.__dict__.items() if k != "output" and v is not None}
        attrs["mass_drift"] = self.mass_drift
        return attrs

    def lines(self) -> list[str]:
        """The one-screen summary the CLI prints."""
        rate = self.steps / self.wall_time if self.wall_time > 0 else float("inf")
        out = [
            f"finished t = {self.t_end:g} in {self.steps} steps, {self.wall_time:.2f} s wall ({rate:.0f} steps/s)",
            f"mass    {self.mass_initial:.12g} -> {self.mass_final:.12g}  (relative drift {self.mass_drift:+.2e})",
            f"energy  {self.energy_initial:.8g} -> {self.energy_final:.8g}  "
            f"(drop {self.energy_initial - self.energy_final:.4g})",
        ]
        if self.loss_final is not None:
            out.append(f"loss    {self.loss_final:.6g}")
        out.append(f"result  {self.output}")
        out.append(f"plot it: pdesolve plot {self.output}")
        return out


def check_state(solver: Solver) -> None:
    """Raise NumericalFault if μ has NaN/Inf or values below −1e-12 max μ."""
    mu = solver.mu
    finite = np.isfinite(mu)
    if not finite.all():
        cell = np.unravel_index(int(np.argmin(finite)), mu.shape)
        raise NumericalFault(
            f"non-finite density at step {solver.steps}, t = {solver.t:g}, cell {cell}: "
            "the time step is too large for the reaction rate or the potential is not finite")
    low = float(mu.min())
    if low < -1e-12 * max(float(mu.max()), 1e-300):
        cell = np.unravel_index(int(np.argmin(mu)), mu.shape)
        raise NumericalFault(
            f"negative density {low:.3g} at step {solver.steps}, t = {solver.t:g}, cell {cell}: "
            "lower time.cfl (positivity needs a stability number below 1)")


def run_setup(setup: Setup, writer: ResultWriter, *, progress: bool = True) -> RunSummary:
    """Integrate ``setup`` to its last output time, writing snapshots and diagnostics."""
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    times = setup.output_times
    started = time.perf_counter()
    previous = solver.mu.copy()
    first = diagnostics.collect(solver, 0.0, None)
    writer.add_snapshot(solver.t, solver.mu, solver.potential())
    writer.add_diagnostics(first)
    row = first
    bar = tqdm(total=float(times[-1]), unit="t", disable=None if progress else True, leave=False,
               bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}{postfix}]")
    last_dt = [0.0]

    def on_step(s: Solver, dt: float) -> None:
        last_dt[0] = dt
        bar.update(dt)
        if s.steps % 50 == 0:
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(f"{s.steps / elapsed:.0f} steps/s", refresh=False)

    with bar:
        for t_next in times[1:]:
            solver.advance(float(t_next), on_step)
            check_state(solver)
            row = diagnostics.collect(solver, last_dt[0], previous)
            writer.add_snapshot(solver.t, solver.mu, solver.potential())
            writer.add_diagnostics(row)
            previous[...] = solver.mu
    return RunSummary(
        output=writer.path, steps=solver.steps, wall_time=time.perf_counter() - started,
        t_end=solver.t, mass_initial=first["mass"], mass_final=row["mass"],
        energy_initial=first["energy"], energy_final=row["energy"], loss_final=row.get("loss"))


def run_case(case: Case, output: str | Path, *, force: bool = False, progress: bool = True) -> RunSummary:
    """Run ``case`` and write its result to ``output`` (refused if it exists, unless ``force``).

    The file appears only when the run completes; a failed run leaves nothing behind.
    """
    setup = build_setup(case)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    out_spec = case.section("output")
    attrs = {"title": case.data.get("title", case.path.stem)}
    with ResultWriter(output, setup.grid, case_text=case.text, case_source=str(case.path), attrs=attrs,
                      save_potential=out_spec["save_potential"], compression=out_spec["compression"],
                      force=force) as writer:
        summary = run_setup(setup, writer, progress=progress)
        writer.finish(summary.as_attrs())
    return summary
