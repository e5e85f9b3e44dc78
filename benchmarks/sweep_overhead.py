"""What ``pdesolve sweep`` costs over running the same cases directly, and what a second
worker gains.

Protocol: N tasks of ``cases/gaussian_1d.toml`` at ``--cells`` cells to ``--t-end`` (no
potential saved), differing in α (0.2, 0.4, …; α = 0 skips the reaction and takes half as long).  Each repeat runs, in
turn: every task directly with ``run_case`` in this process (after one untimed run that
loads the compiled kernels), the sweep on a LocalCluster of one worker, and on two workers,
each into a new folder; odd repeats run the sweeps first, so that a drift of the machine's
speed does not favour one side.  Reported, as medians over the repeats:

* **in-task overhead**: a task's time inside the sweep (``seconds`` in ``sweep.nc``: load the
  case, run, read the scalars) over the same task run directly, minus 1, the median over the
  tasks — the issue's target is ≤ 5% for tasks of ≥ 1 s;
* **whole-sweep overhead per task**: the sweep's wall time (cluster start, worker imports,
  scheduling, the table) divided by N, over the direct time per task, minus 1;
* **speed-up from 1 to 2 workers**: the one-worker sweep's wall time over the two-worker one's;
  and the same for the task phase alone, after subtracting from each the wall time of a sweep of
  one trivial task (10 cells, t_end = 0.01) on as many workers: the fixed cost of starting the
  cluster and its workers, which more or longer tasks amortise.

Run: ``python benchmarks/sweep_overhead.py [--tasks N] [--cells C] [--t-end T] [--repeats R]
[--out FILE]``; writes ``benchmarks/SWEEP.md`` by default (about 4 minutes on two cores).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

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


def swept(sweep, folder: Path, workers: int) -> tuple[float, list[float]]:
    from pdesolve.sweep.engine import run_sweep

    started = time.perf_counter()
    result = run_sweep(sweep, folder, workers=workers, progress=False, say=lambda text: None)
    wall = time.perf_counter() - started
    assert all(o.status == "complete" for o in result.outcomes), [o.reason for o in result.outcomes]
    return wall, [o.seconds for o in result.outcomes]


def measure(tasks: int, cells: int, t_end: float, repeats: int) -> dict:
    from pdesolve.sweep.spec import load_sweep

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "s.toml").write_text(sweep_text(tasks, cells, t_end))
        (scratch / "trivial.toml").write_text(sweep_text(1, 10, 0.01))
        sweep, trivial = load_sweep(scratch / "s.toml"), load_sweep(scratch / "trivial.toml")
        (scratch / "warm-up").mkdir()
        direct_seconds(sweep, scratch / "warm-up")   # loads the compiled kernels: not timed
        runs = {"direct": [], "in_task": [], 1: [], 2: [], "fixed1": [], "fixed2": []}
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
            # task by task: the same task inside the one-worker sweep over run directly
            runs["in_task"].append(statistics.median(s / d for s, d in zip(in_sweep[1], direct)))
    return {key: statistics.median(values) for key, values in runs.items()}


def report(numbers: dict, tasks: int, cells: int, t_end: float, repeats: int, load_before: tuple) -> str:
    direct = numbers["direct"]
    rows = [
        ("one task, run directly (median)", f"{direct:.3f} s", ""),
        ("one task inside the sweep over the same task run directly, 1 worker (median over tasks)",
         f"{numbers['in_task']:.3f}", f"{numbers['in_task'] - 1:+.1%} in-task overhead"),
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
             f"medians of {repeats} interleaved repeats",
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
    parser.add_argument("--out", type=Path, default=HERE / "SWEEP.md")
    args = parser.parse_args()
    load_before = os.getloadavg()
    numbers = measure(args.tasks, args.cells, args.t_end, args.repeats)
    text = report(numbers, args.tasks, args.cells, args.t_end, args.repeats, load_before)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
