"""What ``pdesolve sweep`` costs over running the same cases directly, and what a second
worker gains.

Protocol: tasks of ``cases/gaussian_1d.toml`` at ``--cells`` cells to ``--t-end`` (no
potential saved), differing in α (0.2, 0.4, …; α = 0 skips the reaction and takes half as long).

* **in-task overhead**, in ``--pairs`` pairs: the same task run directly (``run_case`` in a
  plain child process that has loaded the compiled kernels) and inside a sweep (``run_task``
  with the sweep's stop event, submitted to a LocalCluster of one worker that has run one task
  already; its time is ``seconds`` in ``sweep.nc``: load the case, run, read the scalars back),
  one after the other, the order alternating, cycling through the tasks.  Reported: the median
  of (in the sweep) / (direct) − 1 over the pairs, with a 95% bootstrap interval.  The
  machine's speed drifts by ±20% within a minute, so only short-range pairs resolve a few
  per cent; the issue's target is ≤ 5% for tasks of ≥ 1 s.
* **first task on a new worker**: what a fresh worker process adds to its first task (it
  loads the compiled kernels from Numba's on-disk cache), the slowest task of a one-worker
  sweep minus the median of its tasks: a cost per worker, not per task.
* **whole-sweep overhead per task**, in ``--repeats`` repeats of ``--tasks`` tasks: each repeat
  runs, in turn, every task directly in this process, the sweep on a LocalCluster of one
  worker, and on two workers, each into a new folder (odd repeats run the sweeps first); the
  sweep's wall time (cluster start, worker imports, scheduling, the table) divided by the
  number of tasks, over the direct time per task, minus 1;
* **speed-up from 1 to 2 workers**: the one-worker sweep's wall time over the two-worker one's;
  and the same for the task phase alone, after subtracting from each the wall time of a sweep of
  one trivial task (10 cells, t_end = 0.01) on as many workers: the fixed cost of starting the
  cluster and its workers, which more or longer tasks amortise.

Medians throughout.  Run: ``python benchmarks/sweep_overhead.py [--tasks N] [--cells C] [--t-end T] [--repeats R]
[--pairs P] [--out FILE]``; writes ``benchmarks/SWEEP.md`` by default (about 8 minutes on two
cores).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BASE = HERE.parent / "cases" / "gaussian_1d.toml"


def sweep_text(tasks: int, cells: int, t_end: float) -> str:
    alphas = ", ".join(f"{0.2 * (k + 1):.1f}" for k in range(tasks))
    return (f'title = "sweep overhead"\ncase = "{BASE}"\n'
            f'set = ["grid.cells = {cells}", "time.t_end = {t_end}", "output.save_potential = false"]\n'
            f'[product]\n"dynamics.alpha" = [{alphas}]\n')


def direct_seconds(sweep, folder: Path) -> list[float]:
    from pdesolve.config.case import load_case
    from pdesolve.drive.grid_run import run_case

    seconds = []
    for task in sweep.tasks:
        started = time.perf_counter()
        run_case(load_case(sweep.case, task.overrides), folder / f"{task.name}.h5", progress=False,
                 overrides=task.overrides)
        seconds.append(time.perf_counter() - started)
    return seconds


def direct_runner(connection, case: Path, folder: Path) -> None:
    """A plain child process that runs the task of each set of overrides it is sent (None
    ends it) with ``run_case`` and sends back the seconds it took."""
    from pdesolve.config.case import load_case
    from pdesolve.drive.grid_run import run_case

    count = 0
    while (overrides := connection.recv()) is not None:
        started = time.perf_counter()
        run_case(load_case(case, overrides), folder / f"direct{count}.h5", progress=False, overrides=overrides)
        connection.send(time.perf_counter() - started)
        count += 1


def in_task_ratios(sweep, folder: Path, pairs: int) -> list[float]:
    """(seconds inside a one-worker sweep) / (seconds run directly) of ``pairs`` tasks, each
    run both ways one after the other, the order alternating; both sides warmed up first."""
    from distributed import Event

    from pdesolve.drive.dask_cluster import dask_client
    from pdesolve.sweep.tasks import TaskJob, run_task

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    (folder / "direct").mkdir()
    child = context.Process(target=direct_runner, args=(theirs, sweep.case, folder / "direct"))
    child.start()
    ratios = []
    try:
        with dask_client(1) as (client, threads):
            stop_name = "pdesolve-benchmark-stop"
            Event(stop_name, client=client)

            def in_sweep(task, name: str) -> float:
                job = TaskJob(case=sweep.case.resolve(), case_text=sweep.case_text, kind="run", task=task,
                              target=folder / f"{name}.h5", options={}, thresholds={})
                outcome = client.submit(run_task, job, stop_name, threads, pure=False).result()
                assert outcome.status == "complete", outcome.reason
                return outcome.seconds

            def direct(task) -> float:
                ours.send(task.overrides)
                return ours.recv()

            direct(sweep.tasks[0])
            in_sweep(sweep.tasks[0], "warm-up")
            for pair in range(pairs):
                task = sweep.tasks[pair % len(sweep.tasks)]
                if pair % 2:
                    inside = in_sweep(task, f"sweep{pair}")
                    alone = direct(task)
                else:
                    alone = direct(task)
                    inside = in_sweep(task, f"sweep{pair}")
                ratios.append(inside / alone)
    finally:
        ours.send(None)
        child.join()
    return ratios


def median_interval(values: list[float], level: float = 0.95, resamples: int = 4000) -> tuple[float, float]:
    """A percentile bootstrap interval of the median of ``values``."""
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(values, size=(resamples, len(values))), axis=1)
    return tuple(float(q) for q in np.quantile(medians, [(1 - level) / 2, (1 + level) / 2]))


def swept(sweep, folder: Path, workers: int) -> tuple[float, list[float]]:
    from pdesolve.sweep.engine import run_sweep

    started = time.perf_counter()
    result = run_sweep(sweep, folder, workers=workers, progress=False, say=lambda text: None)
    wall = time.perf_counter() - started
    assert all(o.status == "complete" for o in result.outcomes), [o.reason for o in result.outcomes]
    return wall, [o.seconds for o in result.outcomes]


def measure(tasks: int, cells: int, t_end: float, repeats: int, pairs: int) -> dict:
    from pdesolve.sweep.spec import load_sweep

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "s.toml").write_text(sweep_text(tasks, cells, t_end))
        (scratch / "trivial.toml").write_text(sweep_text(1, 10, 0.01))
        sweep, trivial = load_sweep(scratch / "s.toml"), load_sweep(scratch / "trivial.toml")
        (scratch / "warm-up").mkdir()
        direct_seconds(sweep, scratch / "warm-up")   # loads the compiled kernels: not timed
        ratios = in_task_ratios(sweep, scratch, pairs)
        runs = {"direct": [], "first_task": [], 1: [], 2: [], "fixed1": [], "fixed2": []}
        for repeat in range(repeats):
            (scratch / f"direct{repeat}").mkdir()
            in_sweep = {}

            def sweeps() -> None:
                for workers in (1, 2):
                    wall, seconds = swept(sweep, scratch / f"sweep{workers}_{repeat}", workers)
                    runs[workers].append(wall)
                    in_sweep[workers] = seconds
                    runs[f"fixed{workers}"].append(swept(trivial, scratch / f"trivial{workers}_{repeat}",
                                                         workers)[0])
            if repeat % 2:
                sweeps()
            direct = direct_seconds(sweep, scratch / f"direct{repeat}")
            if not repeat % 2:
                sweeps()
            runs["direct"].append(statistics.median(direct))
            runs["first_task"].append(max(in_sweep[1]) - statistics.median(in_sweep[1]))
    numbers = {key: statistics.median(values) for key, values in runs.items()}
    numbers["in_task"] = statistics.median(ratios)
    numbers["in_task_interval"] = median_interval(ratios)
    return numbers


def report(numbers: dict, tasks: int, cells: int, t_end: float, repeats: int, pairs: int,
           load_before: tuple) -> str:
    direct = numbers["direct"]
    low, high = numbers["in_task_interval"]
    rows = [
        ("one task, run directly (median)", f"{direct:.3f} s", ""),
        (f"one task inside the sweep over the same task run directly, 1 warm worker (median of {pairs} pairs)",
         f"{numbers['in_task']:.3f}",
         f"{numbers['in_task'] - 1:+.1%} in-task overhead (95% interval {low - 1:+.1%} to {high - 1:+.1%})"),
        ("the first task on a new worker, over the median task of its sweep",
         f"+{numbers['first_task']:.2f} s", "once per worker (loads the compiled kernels)"),
        (f"whole sweep of {tasks} tasks, 1 worker", f"{numbers[1]:.2f} s",
         f"{numbers[1] / tasks / direct - 1:+.1%} per task over direct"),
        (f"whole sweep of {tasks} tasks, 2 workers", f"{numbers[2]:.2f} s",
         f"speed-up from 1 to 2 workers: {numbers[1] / numbers[2]:.2f}×"),
        ("sweep of one trivial task, 1 / 2 workers (fixed cost)",
         f"{numbers['fixed1']:.2f} / {numbers['fixed2']:.2f} s",
         f"task phase speed-up: {(numbers[1] - numbers['fixed1']) / (numbers[2] - numbers['fixed2']):.2f}×"),
    ]
    lines = ["# Sweep overhead and the second worker", "", __doc__.split("\n\n")[0].replace("\n", " "), "",
             f"- {tasks} tasks: `cases/gaussian_1d.toml`, {cells} cells, t_end = {t_end:g}, α = 0.2, 0.4, …; "
             f"in-task overhead from {pairs} alternating pairs, the rest medians of {repeats} interleaved repeats",
             f"- cores: {os.cpu_count()}; load average before (1/5/15 min): "
             f"{' / '.join(f'{v:.2f}' for v in load_before)}", "",
             "| measured | time | ratio |", "|---|---:|---|"]
    lines += [f"| {what} | {value} | {ratio} |" for what, value, ratio in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--cells", type=int, default=3000)
    parser.add_argument("--t-end", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=HERE / "SWEEP.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    numbers = measure(args.tasks, args.cells, args.t_end, args.repeats, args.pairs)
    text = report(numbers, args.tasks, args.cells, args.t_end, args.repeats, args.pairs, load_before)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
