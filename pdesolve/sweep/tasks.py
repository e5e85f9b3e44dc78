"""One sweep task, run where the scheduler puts it: load its case, run, resume or skip it,
and report what happened as a :class:`TaskOutcome` (never an exception: a task that fails
is recorded with its one-line reason and the sweep goes on).

A task is idempotent, so a scheduler may run it again after losing the worker that ran it:
a complete result at its target is kept (and only read), an interrupted result or the
partial file of a killed process is resumed from its last checkpoint (grid and particle
runs end bit for bit as an uninterrupted run), anything else starts afresh.  Comparisons
have no checkpoint and no stop flag: they are rerun whole, and their report folder appears
only complete.
"""
from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io.atomic import STATUS_COMPLETE, STATUS_FAILED, OutputTargetError, ResultFormatError, temporaries
from .scalars import task_scalars
from .spec import Task

OUTCOME_COMPLETE = "complete"
OUTCOME_FAILED = "failed"
OUTCOME_INTERRUPTED = "interrupted"
OUTCOME_PENDING = "pending"      # not run (yet): the sweep stopped first
STOP_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class TaskJob:
    """What a worker needs to run one task (small and picklable): the base case's path (its
    name in messages and results) and text (so a worker need not see the file), the task."""

    case: Path
    case_text: str
    kind: str
    task: Task
    target: Path
    options: Mapping[str, Any]
    thresholds: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended: status, one-line reason (failed), seconds this attempt took,
    whether it found its result already complete or resumed a checkpoint, its scalars."""

    index: int
    status: str
    reason: str = ""
    seconds: float = 0.0
    reused: bool = False
    resumed: bool = False
    scalars: dict[str, float] = field(default_factory=dict)


def target_state(kind: str, target: Path) -> str:
    """"complete", "resumable" (an interrupted result, or a killed run's partial file),
    "failed" (a result marked failed: rerun over it) or "new"."""
    if kind == "compare":
        return "complete" if (target / "report.json").is_file() else "new"
    if target.is_file():
        from ..io.hdf5_access import open_hdf5, plain_value
        try:
            with open_hdf5(target) as f:
                status = plain_value(f.attrs.get("status", ""))
        except (OSError, ResultFormatError):
            return "new"     # not a result: run_case refuses to overwrite it, with the reason
        return {STATUS_COMPLETE: "complete", STATUS_FAILED: "failed"}.get(status, "resumable")
    return "resumable" if temporaries(target, (".partial",)) else "new"


def _stopped(event_name: str) -> bool:
    from distributed import Event
    return Event(event_name).is_set()


@contextlib.contextmanager
def stop_requested(event_name: str | None) -> Iterator[dict]:
    """A stop flag for the run (see :func:`pdesolve.drive.signals.stop_on_signals`), raised
    as SIGINT once the Dask event ``event_name`` is set by the sweep being interrupted."""
    flag: dict = {"signum": None}
    if event_name is None:
        yield flag
        return
    from distributed import Event

    event = Event(event_name)
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                if event.is_set():
                    flag["signum"] = signal.SIGINT
                    return
            except Exception:   # the scheduler went away: the run is stopped some other way
                return
            done.wait(STOP_POLL_SECONDS)

    watcher = threading.Thread(target=watch, name="pdesolve-stop-watch", daemon=True)
    watcher.start()
    try:
        yield flag
    finally:
        done.set()
        watcher.join()


@contextlib.contextmanager
def numba_threads(count: int | None) -> Iterator[None]:
    """Run the block's kernels on ``count`` Numba threads (None: leave as is)."""
    if count is None:
        yield
        return
    import numba
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(count, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _start(job: TaskJob, case, state: str, stop: dict) -> None:
    """Run, resume or rerun the task's case into its target."""
    overrides = job.task.overrides
    common = dict(progress=False, overrides=overrides, stop=stop)
    if job.kind == "run":
        from ..drive.grid_run import resume_case, run_case
        if state == "resumable":
            resume_case(case, job.target, **common)
        else:
            run_case(case, job.target, force=state == "failed", **common)
    elif job.kind == "particles":
        from ..drive.particle_run import resume_particles_file, run_particles_file
        options = dict(n=job.options.get("n"), replicates=job.options.get("replicates"), workers=1)
        if state == "resumable":
            resume_particles_file(case, job.target, **options, **common)
        else:
            run_particles_file(case, job.target, keep_positions=job.options.get("positions", False),
                               force=state == "failed", **options, **common)
    else:
        from ..analysis.comparison import compare_into
        compare_into(case, job.options.get("ns", (100, 1000, 10000)), job.options.get("replicates", 20),
                     job.target, workers=1, dt=job.options.get("dt"), progress=False)


def run_task(job: TaskJob, stop_event: str | None = None, threads: int | None = None) -> TaskOutcome:
    """Run ``job`` to its end (or until ``stop_event`` is set) and say how it went."""
    from ..config.case import CaseError, case_from_text
    from ..drive.signals import RunInterrupted

    started = time.perf_counter()
    index = job.task.index

    def outcome(status: str, reason: str = "", **extra) -> TaskOutcome:
        return TaskOutcome(index=index, status=status, reason=" ".join(reason.split()),
                           seconds=time.perf_counter() - started, **extra)

    if stop_event is not None and _stopped(stop_event):
        return outcome(OUTCOME_PENDING)   # the sweep was stopped before this task started
    try:
        case = case_from_text(job.case, job.case_text, job.task.overrides)
        state = target_state(job.kind, job.target)
        if state != "complete":
            with stop_requested(stop_event) as stop, numba_threads(threads):
                _start(job, case, state, stop)
        return outcome(OUTCOME_COMPLETE, reused=state == "complete", resumed=state == "resumable",
                       scalars=task_scalars(job.kind, job.target, job.thresholds, case))
    except RunInterrupted as err:
        return outcome(OUTCOME_INTERRUPTED, f"{err}; checkpoint in {err.output}")
    except (CaseError, FileExistsError, OutputTargetError, ResultFormatError) as err:
        return outcome(OUTCOME_FAILED, str(err))
    except (RuntimeError, ValueError, OSError, ArithmeticError, MemoryError) as err:
        return outcome(OUTCOME_FAILED, f"{job.case}: {err}")
