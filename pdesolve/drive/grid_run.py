"""A grid run of a case from start to result file: build, integrate, observe, write."""
from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..fv import diagnostics
from ..model.build import Setup, build_setup
from ..config.case import Case, CaseError, check_same_run
from ..io.atomic import STATUS_FAILED
from ..io.grid_result import ResultWriter
from .resources import DISK_WARNING_BYTES, available_memory, estimate, gib
from ..fv.solver import Solver, StabilityError
from ..model.schedule import ScheduleError
from .compile_notice import compile_notice
from .observers import Cadence, Observer, notify
from .signals import RunInterrupted, stop_on_signals

MASS_DRIFT_TOLERANCE = 1e-9  # relative, for dynamics that conserve mass
DT_COLLAPSE = 1e-10  # a step below this fraction of t_end is a collapse


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
    mass_conserved: bool = True   # by the dynamics (else the mass changes by design); not stored

    @property
    def mass_drift(self) -> float:
        """(M_end − M_0) / M_0."""
        return (self.mass_final - self.mass_initial) / self.mass_initial

    def as_attrs(self) -> dict:
        attrs = {k: v for k, v in self.__dict__.items()
                 if k not in ("output", "mass_conserved") and v is not None}
        attrs["mass_drift"] = self.mass_drift
        return attrs

    def lines(self, command: str = "pdesolve") -> list[str]:
        """The one-screen summary the CLI prints; ``command`` is how the user runs pdesolve."""
        rate = self.steps / self.wall_time if self.wall_time > 0 else float("inf")
        word = "drift" if self.mass_conserved else "change"
        out = [
            f"finished t = {self.t_end:g} in {self.steps} steps, {self.wall_time:.2f} s wall ({rate:.0f} steps/s)",
            f"mass    {self.mass_initial:.12g} -> {self.mass_final:.12g}  (relative {word} {self.mass_drift:+.2e})",
            f"energy  {self.energy_initial:.8g} -> {self.energy_final:.8g}  "
            f"(drop {self.energy_initial - self.energy_final:.4g})",
        ]
        if self.loss_final is not None:
            out.append(f"loss    {self.loss_final:.6g}")
        out.append(f"result  {self.output}")
        out.append(f"plot it: {command} plot {self.output}")
        return out


def check_state(solver: Solver, mass0: float) -> None:
    """Raise NumericalFault if μ has NaN/Inf, values below −1e-12 max μ, or (for dynamics
    that conserve mass) a relative mass drift above MASS_DRIFT_TOLERANCE."""
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
    problem = solver.problem
    if not problem.has_reaction or problem.reaction_model.conserves_mass:
        drift = (problem.grid.integrate(mu) - mass0) / mass0
        if abs(drift) > MASS_DRIFT_TOLERANCE:
            raise NumericalFault(
                f"mass drifted by {drift:+.2e} (relative) by step {solver.steps}, t = {solver.t:g}: "
                "the density reached a no-flux wall it should not cross, or the state is corrupt")


def run_setup(setup: Setup, writer: ResultWriter, *, progress: bool = True,
              checkpoint: dict | None = None, checkpoint_steps: int = 0,
              checkpoint_seconds: float = 0.0, stop: dict | None = None) -> RunSummary:
    """Integrate ``setup`` to its last output time, writing snapshots and diagnostics.

    A diagnostics row is written at every snapshot and after the first step that reaches
    each multiple of ``setup.diagnostics_every`` in between (none there when it is 0; their
    l1_change, the L¹ change since the last snapshot at a snapshot row, is NaN).
    Starts from ``checkpoint`` (as returned by :meth:`ResultWriter.resume`) when given.
    A checkpoint is written with every snapshot, every ``checkpoint_steps`` steps and
    every ``checkpoint_seconds`` of wall time (0 disables either), and when
    ``stop["signum"]`` is set (see :func:`stop_on_signals`), after which the file is
    closed marked interrupted and RunInterrupted is raised.
    """
    stop = {"signum": None} if stop is None else stop
    solver = Solver(setup.problem, setup.scheme, setup.mu0)
    times = setup.output_times
    started, steps_before = time.perf_counter(), solver.steps
    if checkpoint is None:
        first = diagnostics.collect(solver, 0.0, None)
        writer.add_snapshot(solver.t, solver.mu, solver.potential())
        writer.add_diagnostics(first)
        next_output = 1
        writer.write_checkpoint(**solver.state(), snapshots=1, next_output=next_output, last_dt=0.0)
    else:
        solver.restore(checkpoint)
        steps_before = solver.steps
        next_output = int(checkpoint["next_output"])
        first = read_first_row(writer)
    previous = writer.last_snapshot()
    row = first
    # The bar starts after the first step, which on a first run is mostly Numba compiling
    # (announced by compile_notice): its rate and ETA then count stepping only.
    bars: list[tqdm] = []
    clock = {"start": started, "steps": steps_before}

    def make_bar(s: Solver) -> tqdm:
        bar = tqdm(total=float(times[-1]), initial=s.t, unit="t", disable=None if progress else True,
                   leave=False, bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}{postfix}]")
        bars.append(bar)
        clock["start"], clock["steps"] = time.perf_counter(), s.steps
        return bar

    last = {"dt": 0.0 if checkpoint is None else float(checkpoint.get("last_dt", 0.0))}   # the last step's Δt
    checkpoints = Cadence(checkpoint_steps, checkpoint_seconds)

    def save_checkpoint() -> None:
        writer.write_checkpoint(**solver.state(), snapshots=next_output, next_output=next_output,
                                last_dt=last["dt"])
        checkpoints.restart()

    every = setup.diagnostics_every
    rows = {"next": next_row_time(writer.diagnostics()["t"][-1], every)}

    def record_diagnostics(s: Solver, dt: float) -> None:
        # the step onto an output time gets its row with the snapshot
        if s.t >= rows["next"] - 1e-9 * every and s.t < float(times[next_output]):
            writer.add_diagnostics(diagnostics.collect(s, dt, None))   # l1_change: NaN between snapshots
            rows["next"] = next_row_time(s.t, every)

    def show_progress(s: Solver, dt: float) -> None:
        last["dt"] = dt
        if not bars:
            make_bar(s)
            return
        bar = bars[0]
        bar.update(dt)
        if s.steps % 50 == 0:
            rate = (s.steps - clock["steps"]) / max(time.perf_counter() - clock["start"], 1e-9)
            bar.set_postfix_str(f"{rate:.0f} steps/s", refresh=False)

    def check_step_size(s: Solver, dt: float) -> None:
        if dt < DT_COLLAPSE * float(times[-1]) and s.t < float(times[next_output]):
            raise NumericalFault(
                f"time step collapsed to {dt:.3g} at step {s.steps}, t = {s.t:g}: the potential "
                "gradient or the reaction rate α|U − Ū| blew up; check F, K and dynamics.alpha")

    def stop_if_signalled(s: Solver, dt: float) -> None:
        if stop["signum"] is not None:
            save_checkpoint()
            writer.suspend()
            raise RunInterrupted(stop["signum"], writer.path, s.t, s.steps)

    observers = [Observer(show_progress), Observer(check_step_size), Observer(record_diagnostics),
                 Observer(stop_if_signalled),
                 Observer(lambda s, dt: save_checkpoint(), checkpoints)]

    def on_step(s: Solver, dt: float) -> None:
        notify(observers, s, s.steps, dt)

    with compile_notice(progress), contextlib.ExitStack() as closing:
        closing.callback(lambda: [bar.close() for bar in bars])
        while next_output < len(times):
            try:
                solver.advance(float(times[next_output]), on_step)
                check_state(solver, first["mass"])
            except (NumericalFault, StabilityError, ScheduleError) as err:
                writer.suspend(STATUS_FAILED)
                fault = StabilityError if isinstance(err, StabilityError) else NumericalFault
                raise fault(f"{err}; the snapshots up to the last good state are kept in "
                            f"{writer.path} (status 'failed')") from None
            row = diagnostics.collect(solver, last["dt"], previous)
            writer.add_snapshot(solver.t, solver.mu, solver.potential())
            writer.add_diagnostics(row)
            previous[...] = solver.mu
            rows["next"] = next_row_time(solver.t, every)
            next_output += 1
            save_checkpoint()
    return RunSummary(
        output=writer.path, steps=solver.steps, wall_time=writer.wall_time(),
        t_end=solver.t, mass_initial=first["mass"], mass_final=row["mass"],
        energy_initial=first["energy"], energy_final=row["energy"], loss_final=row.get("loss"),
        mass_conserved=not setup.problem.has_reaction or setup.problem.reaction_model.conserves_mass)


def next_row_time(t: float, every: float) -> float:
    """The first multiple of ``every`` after ``t``, a rounding error past ``t`` not counting
    as after (infinity when ``every`` is 0)."""
    return (math.floor(t / every + 1e-9) + 1) * every if every > 0 else math.inf


def read_first_row(writer: ResultWriter) -> dict[str, float]:
    """The diagnostics row of t = 0 of a run being resumed."""
    return {name: float(ds[0]) for name, ds in writer.diagnostics().items()}


def _writer_options(case: Case) -> dict:
    return {"checkpoint_steps": case.output.checkpoint_steps,
            "checkpoint_seconds": case.output.checkpoint_seconds}


def check_resources(case: Case, memory_available: int | None = None) -> list[str]:
    """Refuse (CaseError at grid.cells) a case whose estimated memory exceeds what is
    available; return warnings, e.g. when the snapshots would take over 2 GiB on disk."""
    needed = estimate(case)
    available = available_memory() if memory_available is None else memory_available
    if needed.memory > available:
        raise CaseError(str(case.path), "grid.cells",
                        f"the run needs about {gib(needed.memory)} of memory, {gib(available)} "
                        "is available", "fewer cells")
    warnings = []
    if needed.snapshots_on_disk > DISK_WARNING_BYTES:
        warnings.append(f"warning: the snapshots will take up to {gib(needed.snapshots_on_disk)} on disk "
                        "before compression; fewer time.outputs or output.save_potential = false reduce it")
    return warnings


def run_case(case: Case, output: str | Path, *, force: bool = False, progress: bool = True,
             overrides: tuple[str, ...] = (), stop: dict | None = None) -> RunSummary:
    """Run ``case`` and write its result to ``output`` (refused if it exists, unless ``force``).

    The file appears when the run completes, or marked interrupted after SIGINT/SIGTERM
    (or when ``stop["signum"]`` is set, see :func:`stop_on_signals`); a run that fails
    leaves nothing behind.  ``overrides`` are recorded for ``--resume``.
    """
    for warning in check_resources(case):
        print(warning, file=sys.stderr)
    setup = build_setup(case)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    out_spec = case.output
    attrs = {"title": case.title, "overrides": list(overrides) or ""}
    with stop_on_signals(stop) as stop, \
            ResultWriter(output, setup.grid, case_text=case.text, case_source=str(case.path), attrs=attrs,
                         save_potential=out_spec.save_potential, compression=out_spec.compression,
                         force=force) as writer:
        summary = run_setup(setup, writer, progress=progress, stop=stop, **_writer_options(case))
        writer.finish(summary.as_attrs())
    return summary


def resume_case(case: Case, output: str | Path, *, progress: bool = True,
                overrides: tuple[str, ...] = (), stop: dict | None = None) -> RunSummary:
    """Continue the interrupted (or killed) run of ``case`` whose result is ``output``.

    The case text and the --set overrides must be the ones the run started with; ``stop``
    as for :func:`run_case`.
    """
    with stop_on_signals(stop) as stop:
        return _resume(case, output, progress, overrides, stop)


def _resume(case: Case, output: str | Path, progress: bool, overrides: tuple[str, ...],
            stop: dict) -> RunSummary:
    check_resources(case)
    setup = build_setup(case)
    writer, checkpoint = ResultWriter.resume(output, check=lambda attrs: check_same_run(case, overrides, attrs, output),
                                             compression=case.output.compression)
    with writer:
        summary = run_setup(setup, writer, progress=progress, checkpoint=checkpoint, stop=stop,
                            **_writer_options(case))
        writer.finish(summary.as_attrs())
    return summary
