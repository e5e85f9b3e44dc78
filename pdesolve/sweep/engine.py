"""Run a sweep on Dask: one task per point, each writing its own result in the sweep folder.

Scheduling is Dask's (``dask.distributed``): by default a ``LocalCluster`` of single-threaded
worker processes, one per CPU (``workers``), or any running scheduler (``scheduler``, e.g. one
started with ``dask scheduler`` or by ``dask_jobqueue.SLURMCluster``).  A worker that dies
is replaced and its task rerun by the scheduler; tasks resume from their checkpoints (see
:mod:`.tasks`).  SIGINT/SIGTERM set a Dask event that every running grid or particle task
reads after each step: it checkpoints and returns, tasks not yet started return at once,
comparisons (no checkpoint) are cancelled, and the table is written with their status;
``--resume`` then continues, once it has checked that neither the sweep file nor the base
case has changed (their copies are kept in the folder).  Results depend only on the case,
the parameters and the seeds, never on where or in what order tasks ran.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from tqdm import tqdm

from ..config.case import CaseError, case_from_text
from ..io.atomic import OutputTargetError, fsync_directory, fsync_file, temporary_path
from ..drive.dask_cluster import dashboard, dask_client, require
from ..drive.particle_run import available_cpus
from ..drive.signals import stop_on_signals
from .spec import Sweep
from .table import TABLE_NAME, write_table
from .tasks import (OUTCOME_COMPLETE, OUTCOME_FAILED, OUTCOME_INTERRUPTED, OUTCOME_PENDING, TaskJob,
                    TaskOutcome, run_task, target_state)
from .scalars import task_scalars

SWEEP_COPY = "sweep.toml"
CASE_COPY = "base_case.toml"   # the base case's text when the sweep started: --resume compares it
STOP_GRACE_SECONDS = 120.0   # after SIGINT, how long running tasks get to checkpoint
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: its folder, table and one outcome per task; ``signum`` if stopped."""

    outdir: Path
    table: Path
    outcomes: tuple[TaskOutcome, ...]
    signum: int | None

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def line(self) -> str:
        reused = sum(o.reused for o in self.outcomes)
        parts = [f"{self.count(OUTCOME_COMPLETE)} of {len(self.outcomes)} tasks complete"
                 + (f" ({reused} from an earlier run)" if reused else "")]
        for status in (OUTCOME_FAILED, OUTCOME_INTERRUPTED, OUTCOME_PENDING):
            if self.count(status):
                parts.append(f"{self.count(status)} {status}")
        return ", ".join(parts) + f"; table {self.table}"


def check_folder(sweep: Sweep, outdir: Path, *, resume: bool, force: bool) -> None:
    """Refuse (one line) a sweep folder ``outdir`` that the sweep may not write to: with
    ``resume``, one not started from the same sweep file; without, one that holds files,
    unless ``force`` and it is a sweep folder (it is then emptied)."""
    copy = outdir / SWEEP_COPY
    if outdir.exists() and not outdir.is_dir():
        raise OutputTargetError(f"{outdir}: exists and is not a directory")
    if resume:
        if not copy.is_file():
            raise OutputTargetError(f"{outdir}: no sweep to resume here (no {SWEEP_COPY})")
        if copy.read_text(encoding="utf-8") != sweep.text:
            raise CaseError(str(sweep.path), "--resume", f"{outdir} was started from a different sweep "
                            f"file (see {copy}); resume with that one, or use another -o folder")
        case_copy = outdir / CASE_COPY
        if not case_copy.is_file() or case_copy.read_text(encoding="utf-8") != sweep.case_text:
            raise CaseError(str(sweep.path), "--resume", f"the base case {sweep.case} has changed since "
                            f"{outdir} was started (see {case_copy}); restore it, or use another -o folder")
        return
    if outdir.is_dir() and any(outdir.iterdir()):
        if not force:
            raise FileExistsError(f"{outdir} already holds files; use --resume to continue its sweep "
                                  "or --force to start it over")
        if not copy.is_file():
            raise OutputTargetError(f"{outdir}: is not a sweep folder (no {SWEEP_COPY}); refusing to empty it")
        if Path.cwd().resolve().is_relative_to(outdir.resolve()) or \
                sweep.path.resolve().is_relative_to(outdir.resolve()):
            raise OutputTargetError(f"{outdir}: holds the working directory or the sweep file; "
                                    "refusing to empty it")
    parent = next((p for p in (outdir, *outdir.parents) if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputTargetError(f"{outdir}: cannot write in {parent}")


def start_folder(sweep: Sweep, outdir: Path, *, resume: bool) -> None:
    """Empty ``outdir`` (when starting over) and put the copies of the sweep file and of its
    base case in it."""
    if resume:
        return
    if outdir.is_dir() and any(outdir.iterdir()):
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, text in ((SWEEP_COPY, sweep.text), (CASE_COPY, sweep.case_text)):
        temporary = temporary_path(outdir / name, ".creating")
        temporary.write_text(text, encoding="utf-8")
        fsync_file(temporary)
        temporary.replace(outdir / name)
    fsync_directory(outdir)


def sweep_error(sweep: Sweep, err: CaseError) -> CaseError:
    """A task's case error, named after the sweep file's key when that key is where the
    bad value came from (an axis, or an entry of ``set``)."""
    for key in sweep.axes:
        if err.key == key or err.key.startswith(f"{key}."):
            section = "product" if key in sweep.product_axes else "zip"
            return CaseError(str(sweep.path), f"{section}.{err.key}", err.message, err.allowed)
    if any(item.partition("=")[0].strip() == err.key for item in sweep.fixed):
        return CaseError(str(sweep.path), f"set: {err.key}", err.message, err.allowed)
    return err


def check_tasks(sweep: Sweep) -> dict[int, TaskOutcome]:
    """Each task's case, validated before any work: the failed outcome of every task whose
    parameter values make a bad case.  If every task fails, the sweep file itself is
    wrong: its first error is raised (CaseError)."""
    failed = {}
    first = None
    for task in sweep.tasks:
        try:
            case_from_text(sweep.case, sweep.case_text, task.overrides)
        except CaseError as err:
            err = sweep_error(sweep, err)
            first = first or err
            failed[task.index] = TaskOutcome(index=task.index, status=OUTCOME_FAILED, reason=str(err))
    if first is not None and len(failed) == len(sweep.tasks):
        raise first
    return failed


def run_sweep(sweep: Sweep, outdir: Path, *, workers: int | None = None, scheduler: str | None = None,
              resume: bool = False, force: bool = False, progress: bool = True,
              say: Callable[[str], None] = lambda text: print(text, file=sys.stderr)) -> SweepResult:
    """Run every task of ``sweep`` into ``outdir`` and write ``outdir/sweep.nc``."""
    require("distributed", "h5netcdf", command="pdesolve sweep")
    outdir = Path(outdir)
    failed = check_tasks(sweep)
    check_folder(sweep, outdir, resume=resume, force=force)
    outcomes: dict[int, TaskOutcome] = dict(failed)
    jobs = {}
    for task in sweep.tasks:
        if task.index in failed:
            continue
        job = TaskJob(case=sweep.case.resolve(), case_text=sweep.case_text, kind=sweep.kind, task=task,
                      target=sweep.target(outdir, task).resolve(), options=sweep.options,
                      thresholds=sweep.thresholds)
        if resume and target_state(sweep.kind, job.target) == "complete":
            case = case_from_text(job.case, job.case_text, task.overrides)
            outcomes[task.index] = TaskOutcome(index=task.index, status=OUTCOME_COMPLETE, reused=True,
                                               scalars=task_scalars(sweep.kind, job.target, sweep.thresholds, case))
        else:
            jobs[task.index] = job
    # from here a signal stops the sweep (raises the flag): before its tasks start, they
    # return at once as pending; the table is written either way
    with stop_on_signals() as flag, contextlib.ExitStack() as stack:
        local = min(workers or available_cpus(), len(jobs))   # no idle worker processes
        client, threads = stack.enter_context(dask_client(local, scheduler)) if jobs else (None, None)
        start_folder(sweep, outdir, resume=resume)
        for outcome in failed.values():
            say(f"task {sweep.tasks[outcome.index].name} fails: {outcome.reason}")
        if jobs:
            link = dashboard(client)
            if progress:
                say(f"dask dashboard: {link}" if link else "dask dashboard: not running (it needs bokeh)")
            _run_jobs(client, jobs, threads, outcomes, len(sweep.tasks), flag, progress, say)
        ordered = tuple(outcomes.get(t.index, TaskOutcome(index=t.index, status=OUTCOME_PENDING))
                        for t in sweep.tasks)
        table = write_table(sweep, ordered, outdir / TABLE_NAME)
        signum = flag["signum"] if jobs else None
    return SweepResult(outdir=outdir, table=table, outcomes=ordered, signum=signum)


def _run_jobs(client, jobs: dict[int, TaskJob], threads: int | None, outcomes: dict[int, TaskOutcome],
              total: int, flag: dict, progress: bool, say: Callable[[str], None]) -> None:
    """Submit ``jobs`` and collect their outcomes into ``outcomes``.  Once ``flag["signum"]``
    is raised, the running tasks are asked to stop and get STOP_GRACE_SECONDS to checkpoint
    and return; comparisons (which have no checkpoint) and everything after a second signal
    are cancelled at once, their tasks left pending."""
    from distributed import Event, as_completed

    token = uuid4().hex[:12]
    stop_name = f"pdesolve-sweep-stop-{token}"
    stop_event = Event(stop_name, client=client)
    futures = {client.submit(run_task, job, stop_name, threads, key=f"pdesolve-{token}-{index}",
                             pure=False): index for index, job in jobs.items()}
    completed = as_completed(futures)
    bar = tqdm(total=total, initial=len(outcomes), unit="task", disable=None if progress else True,
               leave=False)
    deadline = math.inf
    with bar:
        while not completed.is_empty():
            if flag["signum"] is not None and not stop_event.is_set():
                say(f"stopping: {signal.Signals(flag['signum']).name}; running tasks checkpoint and "
                    "return (a second Ctrl-C stops at once)")
                stop_event.set()
                checkpointed = any(job.kind != "compare" for job in jobs.values())
                deadline = time.monotonic() + (STOP_GRACE_SECONDS if checkpointed else 0.0)
            if time.monotonic() > deadline or flag.get("count", 0) > 1:
                client.cancel(list(futures))
                break
            batch = completed.next_batch(block=False)
            if not batch:
                time.sleep(POLL_SECONDS)
                continue
            for future in batch:
                index = futures[future]
                outcomes[index] = _outcome(future, index)
                bar.update(1)
                if outcomes[index].status == OUTCOME_FAILED:
                    tqdm.write(f"task {jobs[index].task.name} failed: {outcomes[index].reason}",
                               file=sys.stderr)


def _outcome(future, index: int) -> TaskOutcome:
    """The task's outcome, or a failed one saying why the scheduler gave up on it."""
    try:
        return future.result()
    except Exception as err:   # KilledWorker, CancelledError, an error unpickling the outcome
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        if type(err).__name__ == "KilledWorker":
            reason = "the workers running this task died each time it was tried (KilledWorker)"
        return TaskOutcome(index=index, status=OUTCOME_FAILED, reason=reason)
